/* Compiled as C90 with -pedantic-errors by CMake (target lorakit_c_header_check): the C API header
 * must stay usable from plain C. Uses every type and binds every function to a pointer of its exact
 * type, so a declaration that is not valid C (or changes signature by accident) fails the build. */
#include "lorakit/lorakit.h"

int lorakit_c_header_check(void);

int lorakit_c_header_check(void) {
  const char* (*version)(void) = &lorakit_version;
  const char* (*last_error)(void) = &lorakit_last_error;
  void (*options_init)(lorakit_options*) = &lorakit_options_init;
  lorakit_session* (*create)(const lorakit_options*) = &lorakit_session_create;
  void (*destroy)(lorakit_session*) = &lorakit_session_destroy;
  lorakit_status (*open_model)(lorakit_session*, const char*) = &lorakit_open_model;
  lorakit_status (*set_adapters)(lorakit_session*, const char* const*, const float*, size_t,
                                 lorakit_switch_info*) = &lorakit_set_adapters;
  size_t (*tensor_count)(const lorakit_session*) = &lorakit_tensor_count;
  const char* (*tensor_name)(const lorakit_session*, size_t) = &lorakit_tensor_name;
  lorakit_status (*read_tensor)(const lorakit_session*, const char*, lorakit_tensor**) =
      &lorakit_read_tensor;
  void (*release)(lorakit_tensor*) = &lorakit_tensor_release;
  const char* (*name_of)(const lorakit_tensor*) = &lorakit_tensor_name_of;
  const char* (*dtype)(const lorakit_tensor*) = &lorakit_tensor_dtype;
  size_t (*ndim)(const lorakit_tensor*) = &lorakit_tensor_ndim;
  const size_t* (*shape)(const lorakit_tensor*) = &lorakit_tensor_shape;
  const void* (*data)(const lorakit_tensor*) = &lorakit_tensor_data;
  size_t (*nbytes)(const lorakit_tensor*) = &lorakit_tensor_nbytes;
  int (*patched)(const lorakit_tensor*) = &lorakit_tensor_patched;
  size_t (*overlay_bytes)(const lorakit_session*) = &lorakit_overlay_bytes;
  lorakit_options options;
  lorakit_switch_info info;
  lorakit_status status = LORAKIT_OK;
  int missing = !version || !last_error || !options_init || !create || !destroy || !open_model ||
                !set_adapters || !tensor_count || !tensor_name || !read_tensor || !release ||
                !name_of || !dtype || !ndim || !shape || !data || !nbytes || !patched ||
                !overlay_bytes;
  options_init(&options);
  info.recomputed = 0;
  if (missing) status = LORAKIT_ERR_INTERNAL;
  return (int)status + (int)info.recomputed + options.strict + LORAKIT_C_API_VERSION;
}
