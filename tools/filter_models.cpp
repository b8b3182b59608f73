#include "filter_models.h"

#include <stdexcept>

#include <torch/torch.h>

namespace vidscore::filters {

torch::jit::Module module_from_source(const std::string& source) {
  torch::jit::Module m("vidscore_filter");
  m.define(source);
  m.eval();
  return m;
}

std::vector<std::pair<std::string, std::string>> filter_catalog() {
  return {
      {"ink_sketch",
       "pen-and-ink drawing: dark Sobel edges on warm paper, lightly shaded (the demo's default)"},
      {"invert", "colour negative: 255 - x"},
      {"identity", "returns its input (pipeline tests)"},
      {"swap_rb", "swaps red and blue: reveals R/B and colour-matrix mix-ups (tests)"},
      {"sepia", "sepia colour grade"},
  };
}

torch::jit::Module make_filter(const std::string& name) {
  if (name == "invert")
    return module_from_source("def forward(self, x):\n    return 255.0 - x\n");
  if (name == "identity") return module_from_source("def forward(self, x):\n    return x\n");
  if (name == "swap_rb")
    return module_from_source("def forward(self, x):\n    return x.flip([1])\n");
  if (name == "sepia") {
    torch::jit::Module m("vidscore_filter");
    m.register_buffer("grade", torch::tensor({{0.393, 0.769, 0.189},
                                              {0.349, 0.686, 0.168},
                                              {0.272, 0.534, 0.131}},
                                             torch::kFloat));
    m.define(R"(
def forward(self, x):
    y = torch.einsum('oc,bchw->bohw', self.grade, x)
    return torch.clamp(y, 0.0, 255.0)
)");
    m.eval();
    return m;
  }
  if (name == "ink_sketch") {
    torch::jit::Module m("vidscore_filter");
    // Luma weights (BT.601) as a 1x1 convolution, Sobel kernels for x and y gradients.
    m.register_buffer("luma", torch::tensor({0.299, 0.587, 0.114}, torch::kFloat).view({1, 3, 1, 1}));
    auto sobel_x = torch::tensor({{-1.0, 0.0, 1.0}, {-2.0, 0.0, 2.0}, {-1.0, 0.0, 1.0}}, torch::kFloat);
    m.register_buffer("sobel", torch::stack({sobel_x, sobel_x.t()}).view({2, 1, 3, 3}));
    m.register_buffer("blur", torch::full({1, 1, 3, 3}, 1.0 / 9.0, torch::kFloat));
    // Paper tint and ink colour, RGB.
    m.register_buffer("paper", torch::tensor({250.0, 244.0, 228.0}, torch::kFloat).view({1, 3, 1, 1}));
    m.register_buffer("ink", torch::tensor({28.0, 30.0, 52.0}, torch::kFloat).view({1, 3, 1, 1}));
    m.define(R"(
def pad_edge(self, x):
    x = torch.cat([x[:, :, :1], x, x[:, :, -1:]], 2)
    return torch.cat([x[:, :, :, :1], x, x[:, :, :, -1:]], 3)

def forward(self, x):
    gray = torch.conv2d(x, self.luma)
    soft = torch.conv2d(self.pad_edge(gray), self.blur)
    g = torch.conv2d(self.pad_edge(soft), self.sobel)
    edges = torch.sqrt(g[:, 0:1] * g[:, 0:1] + g[:, 1:2] * g[:, 1:2])
    line = torch.clamp((edges - 24.0) / 140.0, 0.0, 1.0)
    shade = 0.35 * (1.0 - soft / 255.0)
    amount = torch.clamp(line + shade, 0.0, 1.0)
    return self.paper * (1.0 - amount) + self.ink * amount
)");
    m.eval();
    return m;
  }
  throw std::invalid_argument("unknown filter \"" + name + "\"");
}

}  // namespace vidscore::filters
