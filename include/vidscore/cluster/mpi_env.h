// The MPI environment of one process: initialised with MPI_THREAD_FUNNELED (only the thread
// that constructed it makes MPI calls), finalised only if this object initialised it. Started by
// a launcher (mpirun, srun, Hydra, ...) it is one rank of the job; started as a plain process (a
// laptop run) it is a job of one rank that never initialises MPI: Open MPI's singleton start-up
// forks a daemon and costs about 0.3 s, for a job that sends nothing.
#pragma once

#include <mpi.h>

#include <string>

#include "vidscore/error.h"

namespace vidscore {

// Turns an MPI return code into RuntimeError with file:line and MPI's error string.
#define MPI_CHECK(call) ::vidscore::mpi_check((call), #call, __FILE__, __LINE__)
void mpi_check(int rc, const char* call, const char* file, int line);

// PMIx's client (Open MPI 4, PMIx 3-4) talks to its server (mpirun's; srun's slurmstepd names
// its own in the same variables) over TCP without TCP_NODELAY. MPI_Finalize's fence writes two
// small messages; Nagle's algorithm holds the second until the server's delayed ACK, 40 ms on
// Linux: MPI_Finalize took 45 ms per rank, 3 ms with TCP_NODELAY (a 10-line MPI program under
// mpirun). Sets TCP_NODELAY on this process's stream sockets connected to the server at `uri`
// (PMIX_SERVER_URI*: "ns.rank;tcp4://IP:PORT"); returns how many. MpiEnv calls it after MPI_Init.
int pmix_connection_without_delay(const char* uri);

class MpiEnv {
 public:
  MpiEnv(int* argc, char*** argv);
  ~MpiEnv();
  MpiEnv(const MpiEnv&) = delete;
  MpiEnv& operator=(const MpiEnv&) = delete;

  // Whether a launcher started this process (its environment names a rank or a PMI server);
  // VIDSCORE_MPI=1 or 0 overrides.
  static bool launched();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // among the ranks on this node
  int local_size() const { return local_size_; }
  const std::string& host() const { return host_; }

  // Ends every rank of the job with `code`. For fatal errors when other ranks may be blocked.
  [[noreturn]] void abort(int code) const;

  // Collectives over all ranks (nothing to do on one): `bytes` from rank 0 to every rank; each
  // rank's `bytes` to rank 0's `all` (size() * bytes, in rank order).
  void broadcast(void* data, int bytes) const;
  void gather(const void* mine, int bytes, void* all) const;

 private:
  bool initialized_here_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::string host_;
};

}  // namespace vidscore
