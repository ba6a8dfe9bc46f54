export {
  Compositor,
  composeSession,
  compositeResultOf,
  type CompositionSteps,
  type CompositeOptions,
  type ComposeRunOptions,
  type CompositeProgress,
  type CompositeResult,
  type CompositorEvents,
} from './compositor.js';
export { planComposition, type CompositionPlan, type PlanInput } from './planner.js';
export { gridLayout, gridRects, presentationLayout, speakerLayout, defaultLayout, resolveLayout } from './layouts.js';
export { nameTileColour } from './colours.js';
export { CompositeSourceError, readComposeSources, type ComposeSources } from './session.js';
export { x264Args, type VideoEncoding } from './filtergraph.js';
export type {
  AudioSource,
  CompositeLayout,
  CompositeSegment,
  CompositeTile,
  LayoutContext,
  LayoutItem,
  LayoutName,
  LayoutPlacement,
  Rect,
} from './types.js';
export { joinSegments, renderSegment, segmentFileNames, segmentStreamIds, type JoinSpec, type SegmentRenderSpec } from './steps.js';
