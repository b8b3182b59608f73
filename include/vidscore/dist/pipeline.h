// The whole job across MPI ranks (a single process is a job of one rank).
//
// Rank 0 runs four threads: a decoder that cuts the video into chunks of consecutive frames, a
// local worker that runs the model on rank 0's share, an encoder that writes results in frame
// order, and the calling thread, the only one that makes MPI calls, which hands chunk k to rank
// k mod N and collects results. At most `window_chunks` chunks exist at once (decoded, in flight
// or waiting to be reordered), so memory does not grow with the video's length. Every other rank
// receives chunks, runs the model and sends them back.
//
// Errors before the work starts (bad input, model that cannot load or does not fit) are agreed
// collectively: rank 0 prints one message and every rank returns the same exit code. Errors
// during the work throw on rank 0 (after its threads have stopped and the partial output is
// removed); the caller prints and calls MpiEnv::abort so no rank hangs.
#pragma once

#include <string>

#include "vidscore/config.h"
#include "vidscore/dist/mpi_env.h"

namespace vidscore {

struct JobPaths {
  std::string input;
  std::string output;
};

// Runs this rank's role. Returns the exit code (0, 1 or 2) when the job ended in an orderly
// way; throws for failures in the middle of the work (rank 0 only; other ranks report them to
// rank 0 and wait to be stopped).
int run_job(const Config& config, const JobPaths& paths, const MpiEnv& env);

}  // namespace vidscore
