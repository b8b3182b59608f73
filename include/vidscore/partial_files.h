// Partial outputs: every output is written under "<final>.partial-<host>-<pid>" and renamed into
// place only when complete, so a stopped job never leaves anything under the final name.
//
// Two ways a stopped job is cleaned up:
// - SIGTERM/SIGINT/SIGHUP (mpirun after a lost rank, srun steps on scancel or the time limit):
//   the handler unlinks the registered files and exits.
// - SIGKILL (Slurm's batch step on scancel, the OOM killer, a lost node) cannot be caught. Each
//   partial file is held under an flock(2) lock for as long as its writer lives, so the next run
//   on the same output finds the lock free and removes the leftover; a lock still held means
//   another running job is writing the same output, which is refused.
#pragma once

#include <string>
#include <vector>

namespace vidscore {

// "<final>.partial-<host>-<pid>": the name this process writes `final_path` under.
std::string partial_path_for(const std::string& final_path);
// Creates (empty) and locks the temporary file for `final_path`, registers it for the signal
// handler and returns its path. At most 1024 at once; throws RuntimeError when it cannot be
// created. Thread-safe with release_partial_file.
std::string create_partial_file(const std::string& final_path);
// Forgets it and drops the lock: call after it was renamed into place or removed.
void release_partial_file(const std::string& partial_path);
// Removes "<final>.partial-*" files left by processes that are gone and returns their names.
// Throws RuntimeError when one is locked by a running process (another job writes that output).
std::vector<std::string> remove_stale_partial_files(const std::string& final_path);
// SIGTERM/SIGINT/SIGHUP: unlink the registered files, say so on stderr, exit 128 + signal.
void install_termination_handler();

}  // namespace vidscore
