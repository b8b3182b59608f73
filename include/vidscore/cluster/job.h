// The whole job across MPI ranks (a single process is a job of one rank), on one video or on an
// archive of many: the segments of every input go through one scheduler, input after input, so
// the model loads once per rank and ranks stay busy across short videos. An input of an archive
// job that fails is named with its reason and the others go on.
//
// Rank 0 opens the input, chooses the transport (packets where the input splits at keyframes
// and carries timestamps, else frames), checks the encoder settings, opens the outputs, and
// broadcasts what every rank needs (stream parameters, transport). Every rank then loads the
// model; rank 0 runs the Scheduler (planner, local worker, assembler, MPI dispatch), the others
// run worker_loop(). See scheduler.h for the threads and the memory bound.
//
// Errors before the work starts (bad input, model that cannot load or does not fit) are agreed
// collectively: rank 0 prints one message and every rank returns the same exit code. Errors
// during the work throw on rank 0 (after its threads have stopped and the partial output is
// removed); the caller prints and calls MpiEnv::abort so no rank hangs.
#pragma once

#include <string>
#include <vector>

#include "vidscore/cluster/mpi_env.h"
#include "vidscore/config.h"

namespace vidscore {

struct JobPaths {
  // One video file (a single-video job: output is a file), or several files, folders and @lists
  // (an archive job: output is a folder; see media/input_list.h).
  std::vector<std::string> inputs;
  std::string output;
  bool overwrite = false;  // archive jobs: redo inputs whose outputs exist (else skipped)
};

// Runs this rank's role. Returns the exit code (0, 1, 2, 3, or 4: an archive job in which some
// inputs failed) when the job ended in an orderly way; throws for failures in the middle of the work (rank 0 only; other ranks report them to
// rank 0 and wait to be stopped).
int run_job(const Config& config, const JobPaths& paths, const MpiEnv& env);

}  // namespace vidscore
