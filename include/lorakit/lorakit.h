/* lorakit C API: adapter sessions (lorakit::session::Session) for other languages.
 *
 * C89-compatible; every function is callable from C, C++, Python ctypes/cffi and similar. No
 * exception crosses this boundary: a function that fails returns a non-zero lorakit_status (or
 * NULL) and lorakit_last_error() gives the message of the last failure on the calling thread.
 *
 * Threads: a session may be read (lorakit_read_tensor, lorakit_tensor_count, lorakit_tensor_name)
 * from many threads at once, also while another thread calls lorakit_set_adapters; calls that
 * change a session (lorakit_open_model, lorakit_set_adapters) serialize. A lorakit_tensor handle
 * keeps its bytes valid until lorakit_tensor_release, whatever the session does meanwhile.
 */
#ifndef LORAKIT_LORAKIT_H
#define LORAKIT_LORAKIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LORAKIT_C_API_VERSION 1

typedef enum lorakit_status {
  LORAKIT_OK = 0,
  LORAKIT_ERR_INVALID_ARGUMENT = 1, /* bad call: unknown tensor, no model, NULL, adapter refused */
  LORAKIT_ERR_FORMAT = 2,           /* a file's content is malformed */
  LORAKIT_ERR_IO = 3,               /* the operating system refused (open, mmap, ...) */
  LORAKIT_ERR_UNSUPPORTED = 4,      /* valid input lorakit does not implement */
  LORAKIT_ERR_VALUE = 5,            /* values an operation cannot accept (e.g. non-finite) */
  LORAKIT_ERR_OUT_OF_MEMORY = 6,
  LORAKIT_ERR_INTERNAL = 7 /* any other failure */
} lorakit_status;

typedef struct lorakit_session lorakit_session; /* opaque */
typedef struct lorakit_tensor lorakit_tensor;   /* opaque: one read of one tensor */

typedef struct lorakit_options {
  size_t memory_budget;       /* overlay bytes; 0 = unlimited */
  size_t adapter_cache_bytes; /* parsed-adapter cache bound in file bytes; 0 = default (1 GiB) */
  int strict;                 /* non-zero: refuse adapters with any unmatched/mismatched item */
  const char* quant_policy;   /* "requant" (NULL = default), "upcast:f16|bf16|q8_0", "runtime" */
  const char* rounding;       /* fp8: "stochastic[:SEED]" (NULL = default) or "nearest" */
} lorakit_options;

/* What lorakit_set_adapters did (counts of tensors). */
typedef struct lorakit_switch_info {
  size_t recomputed;
  size_t restored;
  size_t kept;
  size_t evicted;
  size_t adapters_parsed;
  size_t adapters_cached;
  double seconds;
} lorakit_switch_info;

/* "0.1.0": the library version. */
const char* lorakit_version(void);
/* The message of the last failed call on this thread ("" when none). Valid until the next failing
 * call on the same thread. */
const char* lorakit_last_error(void);

/* Fills `options` with the defaults. */
void lorakit_options_init(lorakit_options* options);

/* A new session without a model. `options` may be NULL (defaults). NULL on failure. */
lorakit_session* lorakit_session_create(const lorakit_options* options);
/* Destroys a session (NULL is ignored). Tensor handles read from it stay valid. */
void lorakit_session_destroy(lorakit_session* session);

/* Opens (or switches to) a base model file or folder; the active set becomes empty. On failure the
 * previous model stays open and unchanged. */
lorakit_status lorakit_open_model(lorakit_session* session, const char* path);

/* Makes the `count` adapters paths[i] with strengths[i] the active set, in order (count 0 restores
 * the base model; paths and strengths may then be NULL). Atomic: on failure (an adapter that does
 * not fit the model, ...) the previous state stays in force. `info` may be NULL. */
lorakit_status lorakit_set_adapters(lorakit_session* session, const char* const* paths,
                                    const float* strengths, size_t count,
                                    lorakit_switch_info* info);

/* The model's tensors in file order (0 when no model is open). */
size_t lorakit_tensor_count(const lorakit_session* session);
/* The name of tensor `index`, or NULL when out of range. Valid until the next lorakit_open_model on
 * this session or its destruction. */
const char* lorakit_tensor_name(const lorakit_session* session, size_t index);

/* Reads the current effective content of a tensor into a new handle (*out; NULL on failure). */
lorakit_status lorakit_read_tensor(const lorakit_session* session, const char* name,
                                   lorakit_tensor** out);
/* Releases a handle (NULL is ignored). */
void lorakit_tensor_release(lorakit_tensor* tensor);

/* The handle's tensor: name, dtype name ("F16", "BF16", "Q4_K", ...), logical shape (outermost
 * first), bytes as stored, and whether adapters changed it. Pointers are valid until release. */
const char* lorakit_tensor_name_of(const lorakit_tensor* tensor);
const char* lorakit_tensor_dtype(const lorakit_tensor* tensor);
size_t lorakit_tensor_ndim(const lorakit_tensor* tensor);
const size_t* lorakit_tensor_shape(const lorakit_tensor* tensor);
const void* lorakit_tensor_data(const lorakit_tensor* tensor);
size_t lorakit_tensor_nbytes(const lorakit_tensor* tensor);
int lorakit_tensor_patched(const lorakit_tensor* tensor);

/* Bytes currently held by the session's patched tensors (the overlay). */
size_t lorakit_overlay_bytes(const lorakit_session* session);

#ifdef __cplusplus
}
#endif

#endif /* LORAKIT_LORAKIT_H */
