// Rows of a picture shared among a few threads whose idle time is spent asleep.
//
// The per-pixel loops around the model (colour conversion, tensor layout) run between encoder
// calls. On libgomp, which at::parallel_for uses in Debian's libtorch, an idle worker spins for
// ~300,000 iterations (GOMP_SPINCOUNT) after every parallel region before it sleeps: between two
// frames that is a core taken from x264's threads (13% of the CPU of a 1080p restyle on 2 cores).
// This pool's workers wait on a condition variable instead; a call costs a wake-up (tens of us),
// nothing while idle.
#pragma once

#include <cstdint>
#include <functional>

namespace vidscore {

// Calls fn(begin, end) over [0, n) in pieces of at least `grain` rows, on up to `threads`
// threads (the caller's included), and returns when every piece is done. Pieces may run in any
// order. An exception in fn is rethrown here (the first one). Safe to call from several threads:
// calls take turns.
void parallel_rows(int64_t n, int64_t grain, int threads,
                   const std::function<void(int64_t, int64_t)>& fn);

}  // namespace vidscore
