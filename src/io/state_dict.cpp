#include "io/state_dict.h"

#include <algorithm>
#include <sstream>

#include <torch/torch.h>

#include "common/error.h"

namespace disco::io {
namespace {
std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}
}  // namespace

void load_state_dict(torch::nn::Module& module, const TensorMap& sd, const std::string& source,
                     const std::vector<std::string>& ignore) {
  torch::NoGradGuard no_grad;
  auto targets = module.named_parameters(/*recurse=*/true);
  for (const auto& b : module.named_buffers(/*recurse=*/true)) targets.insert(b.key(), b.value());

  for (const auto& t : targets) {
    const at::Tensor* src = sd.find(t.key());
    DISCO_CHECK(src, ModelMismatchError, "checkpoint '", source, "' has no tensor '", t.key(),
                "' (", sd.size(), " tensors in the file); it is not a weights file for this network");
    DISCO_CHECK(src->sizes() == t.value().sizes(), ModelMismatchError, "checkpoint '", source,
                "': tensor '", t.key(), "' has shape ", shape_str(src->sizes()), ", expected ",
                shape_str(t.value().sizes()), "; the file is for a different model configuration");
  }
  for (const auto& s : sd) {
    bool known = targets.contains(s.key()) ||
                 std::find(ignore.begin(), ignore.end(), s.key()) != ignore.end();
    DISCO_CHECK(known, ModelMismatchError, "checkpoint '", source, "' has an unexpected tensor '",
                s.key(), "'; the file is for a different model configuration");
  }
  for (auto& t : targets) t.value().copy_(sd[t.key()]);
}

TensorMap strip_module_prefix(const TensorMap& sd) {
  if (sd.is_empty() || sd.begin()->key().rfind("module", 0) != 0) return sd;
  TensorMap out;
  out.reserve(sd.size());
  for (const auto& item : sd) {
    const std::string name = item.key().size() > 7 ? item.key().substr(7) : "";
    DISCO_CHECK(!out.contains(name), CheckpointError, "two tensors are named '", name,
                "' once the 'module.' prefix is removed; the file is damaged");
    out.insert(name, item.value());
  }
  return out;
}

}  // namespace disco::io
