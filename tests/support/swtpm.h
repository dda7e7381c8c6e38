// swtpm as the TPM 2.0 of tests: a real software TPM on free loopback ports, its state in a folder
// of the test's choosing (so a restart keeps the owner seed), stopped on destruction.
//
//   TempDir state;
//   auto tpm = Swtpm::start(state.path().string());
//   ASSERT_TRUE(tpm) << tpm.error().message;
//   privacy::tpm_seal((*tpm)->tcti(), secret, {16});
//
// Thread-safety: an Swtpm belongs to one thread.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "support/server_process.h"

namespace tandem::testing {

// The swtpm binary, or empty when it is not installed (scripts/setup.sh installs it).
std::string swtpm_binary();

class Swtpm {
 public:
  // `swtpm socket --tpm2` with --flags not-need-init,startup-clear, listening when it returns.
  static Result<std::unique_ptr<Swtpm>> start(const std::string& state_dir);
  std::string tcti() const;  // "swtpm:host=127.0.0.1,port=N"

 private:
  Swtpm(std::unique_ptr<ChildProcess> process, int port) : process_(std::move(process)), port_(port) {}
  std::unique_ptr<ChildProcess> process_;  // its destructor stops swtpm
  int port_;
};

}  // namespace tandem::testing
