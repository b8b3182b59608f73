// vidscore-make-filter NAME OUT.ts.pt: writes one of the hand-set TorchScript filters. The
// demo uses it for its default model (no trained weights can ship with the project).
#include <cstdio>
#include <exception>
#include <string>

#include "filter_models.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: vidscore-make-filter NAME OUT.ts.pt\nfilters:\n");
    for (const auto& [name, what] : vidscore::filters::filter_catalog())
      std::fprintf(stderr, "  %-12s %s\n", name.c_str(), what.c_str());
    return 2;
  }
  try {
    vidscore::filters::make_filter(argv[1]).save(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vidscore-make-filter: error: %s\n", e.what());
    return 1;
  }
  std::printf("%s\n", argv[2]);
  return 0;
}
