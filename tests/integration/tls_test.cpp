// TLS for `tandem serve`: with server.tls_cert and server.tls_key it speaks HTTPS only, with the
// certificate it was given (checked by a client that trusts only that certificate), and a missing
// half of the pair or an unusable certificate stops it at start with a clear error.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem::testing {
namespace {

class TlsServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A throwaway self-signed certificate for 127.0.0.1, made by the openssl command line tool.
    const std::string command =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
        key_ + " -out " + cert_ + " 2>/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  TempDir dir_;
  std::string cert_ = dir_.file("cert.pem");
  std::string key_ = dir_.file("key.pem");
};

TEST_F(TlsServeTest, ServesHttpsOnlyWithTheGivenCertificate) {
  auto server = ServerProcess::start({"--model", chat_model_path()},
                                     {"TANDEM_SERVER_TLS_CERT=" + cert_, "TANDEM_SERVER_TLS_KEY=" + key_});
  ASSERT_TRUE(server) << server.error().message;
  httplib::SSLClient tls("127.0.0.1", (*server)->port());
  tls.set_ca_cert_path(cert_.c_str());
  tls.enable_server_certificate_verification(true);
  auto health = tls.Get("/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  auto models = tls.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);

  httplib::Client plain("127.0.0.1", (*server)->port());
  plain.set_read_timeout(std::chrono::seconds(5));
  auto in_clear = plain.Get("/health");
  EXPECT_FALSE(in_clear && in_clear->status == 200);
}

TEST_F(TlsServeTest, HalfAPairOrAnUnusableCertificateStopsTheStart) {
  auto half = run_tandem({"--set", "server.tls_cert=" + cert_, "serve", "--single-user", "--port", "0"});
  EXPECT_EQ(half.exit_code, 2) << half.stderr_text;
  EXPECT_NE(half.stderr_text.find("server.tls_key"), std::string::npos) << half.stderr_text;

  std::ofstream(dir_.file("garbage.pem")) << "not a certificate\n";
  auto garbage = run_tandem({"--set", "server.tls_cert=" + dir_.file("garbage.pem"), "--set", "server.tls_key=" + key_,
                             "serve", "--single-user", "--port", "0"});
  EXPECT_EQ(garbage.exit_code, 2) << garbage.stderr_text;
  EXPECT_NE(garbage.stderr_text.find("cannot use the TLS certificate"), std::string::npos) << garbage.stderr_text;
}

}  // namespace
}  // namespace tandem::testing
