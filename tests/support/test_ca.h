// A certificate authority made at test time with OpenSSL, for TLS tests on loopback: server
// certificates for any names, also expired or for the wrong host. Nothing is stored in the tree.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace agendad::test_support {

struct credentials {
    std::string cert_pem;  // the certificate (leaf only)
    std::string key_pem;   // its private key (unencrypted PKCS#8)
};

// A self-signed certificate as an admin makes for an app registration (Graph, EWS OAuth):
// RSA 2048, or an EC P-256 key (which Microsoft's RS256 assertions cannot use), valid from
// `not_before_days` to `not_after_days` relative to now.
credentials self_signed_app_certificate(bool rsa = true, long not_before_days = -1,
                                        long not_after_days = 365);

class test_ca {
  public:
    explicit test_ca(const std::string& common_name = "agendad test CA");
    ~test_ca();
    test_ca(const test_ca&) = delete;
    test_ca& operator=(const test_ca&) = delete;

    const std::string& cert_pem() const { return cert_pem_; }

    // A server certificate for `dns_names` and `ip_addresses` (subjectAltName), valid from
    // `not_before_days` to `not_after_days` relative to now (negative: in the past).
    credentials issue(const std::vector<std::string>& dns_names,
                      const std::vector<std::string>& ip_addresses, int not_before_days = -1,
                      int not_after_days = 30) const;

    // Writes the CA certificate to `path` (a PEM file for ca_file settings).
    void write_cert(const std::filesystem::path& path) const;

    // For a server on loopback: writes server.pem and server.key (for localhost and 127.0.0.1)
    // and ca.pem into `folder`; returns ca.pem's path.
    std::filesystem::path write_loopback_server_files(const std::filesystem::path& folder) const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
    std::string cert_pem_;
};

}  // namespace agendad::test_support
