// The C API of include/lorakit/lorakit.h over lorakit::session::Session. Every entry point catches
// everything: no exception crosses the C boundary.
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "lorakit/error.hpp"
#include "lorakit/lorakit.h"
#include "lorakit/session.hpp"
#include "tools/version.hpp"

struct lorakit_session {
  explicit lorakit_session(lorakit::session::SessionOptions o) : session(std::move(o)) {}
  lorakit::session::Session session;
  // Names handed out by lorakit_tensor_name, replaced by lorakit_open_model.
  mutable std::mutex names_mu;
  std::shared_ptr<const std::vector<std::string>> names =
      std::make_shared<const std::vector<std::string>>();
};

struct lorakit_tensor {
  lorakit::session::Tensor tensor;
  std::string dtype;
  std::vector<size_t> shape;
};

namespace {

thread_local std::string g_last_error;

lorakit_status fail(lorakit_status s, const char* what) {
  try {
    g_last_error = what ? what : "unknown error";
  } catch (...) {
  }
  return s;
}

// Runs `f`, mapping every exception to a status and the thread's last error.
template <typename F>
lorakit_status guarded(F&& f) {
  try {
    f();
    return LORAKIT_OK;
  } catch (const lorakit::FormatError& e) {
    return fail(LORAKIT_ERR_FORMAT, e.what());
  } catch (const lorakit::IoError& e) {
    return fail(LORAKIT_ERR_IO, e.what());
  } catch (const lorakit::InvalidArgument& e) {
    return fail(LORAKIT_ERR_INVALID_ARGUMENT, e.what());
  } catch (const lorakit::UnsupportedError& e) {
    return fail(LORAKIT_ERR_UNSUPPORTED, e.what());
  } catch (const lorakit::ValueError& e) {
    return fail(LORAKIT_ERR_VALUE, e.what());
  } catch (const std::bad_alloc&) {
    return fail(LORAKIT_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(LORAKIT_ERR_INTERNAL, e.what());
  } catch (...) {
    return fail(LORAKIT_ERR_INTERNAL, "unknown exception");
  }
}

lorakit_status null_argument(const char* function, const char* argument) {
  try {
    g_last_error = std::string(function) + ": " + argument + " is NULL";
  } catch (...) {
  }
  return LORAKIT_ERR_INVALID_ARGUMENT;
}

}  // namespace

extern "C" {

const char* lorakit_version(void) {
  static const std::string v(lorakit::tools::version());
  return v.c_str();
}

const char* lorakit_last_error(void) { return g_last_error.c_str(); }

void lorakit_options_init(lorakit_options* options) {
  if (!options) return;
  options->memory_budget = 0;
  options->adapter_cache_bytes = 0;
  options->strict = 0;
  options->quant_policy = nullptr;
  options->rounding = nullptr;
}

lorakit_session* lorakit_session_create(const lorakit_options* options) {
  lorakit_session* out = nullptr;
  guarded([&] {
    lorakit::session::SessionOptions o;
    if (options) {
      o.memory_budget = options->memory_budget;
      if (options->adapter_cache_bytes) o.adapter_cache_bytes = options->adapter_cache_bytes;
      o.strict = options->strict != 0;
      if (options->quant_policy) lorakit::patch::parse_quant_policy(options->quant_policy, o.patch);
      if (options->rounding) lorakit::patch::parse_rounding(options->rounding, o.patch);
    }
    out = new lorakit_session(std::move(o));
  });
  return out;
}

void lorakit_session_destroy(lorakit_session* session) { delete session; }

lorakit_status lorakit_open_model(lorakit_session* session, const char* path) {
  if (!session) return null_argument("lorakit_open_model", "session");
  if (!path) return null_argument("lorakit_open_model", "path");
  return guarded([&] {
    session->session.open_model(path);
    auto names = std::make_shared<const std::vector<std::string>>(session->session.tensor_names());
    std::lock_guard lock(session->names_mu);
    session->names = std::move(names);
  });
}

lorakit_status lorakit_set_adapters(lorakit_session* session, const char* const* paths,
                                    const float* strengths, size_t count,
                                    lorakit_switch_info* info) {
  if (!session) return null_argument("lorakit_set_adapters", "session");
  if (count && !paths) return null_argument("lorakit_set_adapters", "paths");
  if (count && !strengths) return null_argument("lorakit_set_adapters", "strengths");
  for (size_t i = 0; i < count; ++i)
    if (!paths[i]) return null_argument("lorakit_set_adapters", "a path");
  return guarded([&] {
    std::vector<lorakit::session::AdapterRequest> set;
    set.reserve(count);
    for (size_t i = 0; i < count; ++i) set.push_back({paths[i], strengths[i]});
    const auto r = session->session.set_adapters(set);
    if (info) {
      info->recomputed = static_cast<size_t>(r.recomputed);
      info->restored = static_cast<size_t>(r.restored);
      info->kept = static_cast<size_t>(r.kept);
      info->evicted = static_cast<size_t>(r.evicted);
      info->adapters_parsed = static_cast<size_t>(r.adapters_parsed);
      info->adapters_cached = static_cast<size_t>(r.adapters_cached);
      info->seconds = r.seconds;
    }
  });
}

size_t lorakit_tensor_count(const lorakit_session* session) {
  if (!session) return 0;
  std::lock_guard lock(session->names_mu);
  return session->names->size();
}

const char* lorakit_tensor_name(const lorakit_session* session, size_t index) {
  if (!session) return nullptr;
  std::lock_guard lock(session->names_mu);
  return index < session->names->size() ? (*session->names)[index].c_str() : nullptr;
}

lorakit_status lorakit_read_tensor(const lorakit_session* session, const char* name,
                                   lorakit_tensor** out) {
  if (!out) return null_argument("lorakit_read_tensor", "out");
  *out = nullptr;
  if (!session) return null_argument("lorakit_read_tensor", "session");
  if (!name) return null_argument("lorakit_read_tensor", "name");
  return guarded([&] {
    auto t = std::make_unique<lorakit_tensor>();
    t->tensor = session->session.read(name);
    t->dtype = std::string(lorakit::name(t->tensor.dtype));
    t->shape.assign(t->tensor.shape.begin(), t->tensor.shape.end());
    *out = t.release();
  });
}

void lorakit_tensor_release(lorakit_tensor* tensor) { delete tensor; }

const char* lorakit_tensor_name_of(const lorakit_tensor* tensor) {
  return tensor ? tensor->tensor.name.c_str() : nullptr;
}
const char* lorakit_tensor_dtype(const lorakit_tensor* tensor) {
  return tensor ? tensor->dtype.c_str() : nullptr;
}
size_t lorakit_tensor_ndim(const lorakit_tensor* tensor) {
  return tensor ? tensor->shape.size() : 0;
}
const size_t* lorakit_tensor_shape(const lorakit_tensor* tensor) {
  return tensor ? tensor->shape.data() : nullptr;
}
const void* lorakit_tensor_data(const lorakit_tensor* tensor) {
  return tensor ? static_cast<const void*>(tensor->tensor.bytes.data()) : nullptr;
}
size_t lorakit_tensor_nbytes(const lorakit_tensor* tensor) {
  return tensor ? tensor->tensor.bytes.size() : 0;
}
int lorakit_tensor_patched(const lorakit_tensor* tensor) {
  return tensor && tensor->tensor.patched ? 1 : 0;
}

size_t lorakit_overlay_bytes(const lorakit_session* session) {
  return session ? static_cast<size_t>(session->session.overlay_bytes()) : 0;
}

}  // extern "C"
