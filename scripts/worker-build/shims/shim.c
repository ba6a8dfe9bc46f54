/* sfu-recorder offline shim: placeholder translation unit for the empty
 * static libraries that mediasoup's meson.build lists in link_whole (the
 * real code comes from the Debian shared library the shim wraps). */
typedef int sfu_recorder_mediasoup_shim_placeholder_t;
