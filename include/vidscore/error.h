// Error types shared by every module. Exceptions inside, one catch in main: each type maps to
// an exit code there (UsageError -> 2, everything else -> 1).
#pragma once

#include <stdexcept>
#include <string>

namespace vidscore {

// Bad command line or config: the user must change how vidscore is called. Exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Anything that goes wrong while the job runs: unreadable input, a model that does not fit the
// task, an encoder failure, a lost rank. Exit code 1.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Exit code of a job that completed on a damaged or cut input: every frame that decoded was
// written (the output is complete and valid), and a note says how much was lost.
constexpr int kExitDamagedInput = 3;

// Exit code of an archive job (many inputs) in which some inputs failed (each named with its
// reason) and the others were written. Every input failing is 1, like any failed job.
constexpr int kExitFailedInputs = 4;

// Broken invariant: a bug in vidscore, not in the user's input.
#define VIDSCORE_ASSERT(cond)                                                              \
  do {                                                                                     \
    if (!(cond))                                                                           \
      throw std::logic_error(std::string("internal error: ") + #cond + " at " + __FILE__ + \
                             ":" + std::to_string(__LINE__));                              \
  } while (0)

}  // namespace vidscore
