// Partial outputs removed when the process is told to stop. mpirun (when another rank dies) and
// Slurm (scancel, time limit) send SIGTERM before SIGKILL; a handler that unlinks the files being
// written keeps a stopped job from leaving .partial files beside the output.
#pragma once

#include <string>

namespace vidscore {

// Remembers a file being written (at most 8 at once; paths up to 4095 bytes).
void register_partial_file(const std::string& path);
// Forgets it (it was renamed into place or removed).
void unregister_partial_file(const std::string& path);
// SIGTERM/SIGINT/SIGHUP: unlink the registered files, say so on stderr, exit 128 + signal.
void install_termination_handler();

}  // namespace vidscore
