// Hand-set TorchScript filters built with libtorch alone (no Python, no training): the demo's
// default model and the models the tests use. Each follows the style contract: float32 RGB
// [B,3,H,W] in 0-255 in, the same out.
#pragma once

#include <string>
#include <vector>

#include <torch/script.h>

namespace vidscore::filters {

// Names accepted by make_filter(), with one line each on what they do.
std::vector<std::pair<std::string, std::string>> filter_catalog();

// Builds the named filter. Throws std::invalid_argument for an unknown name.
torch::jit::Module make_filter(const std::string& name);

// A module whose forward is `body` (TorchScript source of a whole `def forward(self, x):`).
torch::jit::Module module_from_source(const std::string& source);

}  // namespace vidscore::filters
