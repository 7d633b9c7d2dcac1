#include "support/test_ca.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <stdexcept>

namespace agendad::test_support {
namespace {

struct key_deleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct cert_deleter {
    void operator()(X509* c) const { X509_free(c); }
};
struct bio_deleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using cert_ptr = std::unique_ptr<X509, cert_deleter>;
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("test CA: ") + what);
}

key_ptr new_key() {
    key_ptr k{EVP_EC_gen("P-256")};
    check(k != nullptr, "EVP_EC_gen");
    return k;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    check(ext != nullptr, "X509V3_EXT_conf_nid");
    check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
    X509_EXTENSION_free(ext);
}

cert_ptr new_cert(EVP_PKEY* key, const std::string& cn, long serial, int not_before_days,
                  int not_after_days) {
    cert_ptr c{X509_new()};
    check(c != nullptr, "X509_new");
    X509_set_version(c.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial);
    X509_gmtime_adj(X509_getm_notBefore(c.get()), static_cast<long>(not_before_days) * 86400);
    X509_gmtime_adj(X509_getm_notAfter(c.get()), static_cast<long>(not_after_days) * 86400);
    X509_set_pubkey(c.get(), key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(c.get()), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    return c;
}

std::string pem_of(X509* cert) {
    bio_ptr b{BIO_new(BIO_s_mem())};
    check(PEM_write_bio_X509(b.get(), cert) == 1, "PEM_write_bio_X509");
    char* data = nullptr;
    const long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string pem_of(EVP_PKEY* key) {
    bio_ptr b{BIO_new(BIO_s_mem())};
    check(PEM_write_bio_PrivateKey(b.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
          "PEM_write_bio_PrivateKey");
    char* data = nullptr;
    const long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

struct test_ca::impl {
    key_ptr key;
    cert_ptr cert;
    mutable long serial = 2;
};

test_ca::test_ca(const std::string& common_name) : impl_(std::make_unique<impl>()) {
    impl_->key = new_key();
    impl_->cert = new_cert(impl_->key.get(), common_name, 1, -1, 365);
    X509_set_issuer_name(impl_->cert.get(), X509_get_subject_name(impl_->cert.get()));
    add_extension(impl_->cert.get(), impl_->cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_extension(impl_->cert.get(), impl_->cert.get(), NID_key_usage,
                  "critical,keyCertSign,cRLSign");
    add_extension(impl_->cert.get(), impl_->cert.get(), NID_subject_key_identifier, "hash");
    check(X509_sign(impl_->cert.get(), impl_->key.get(), EVP_sha256()) > 0, "X509_sign (CA)");
    cert_pem_ = pem_of(impl_->cert.get());
}

test_ca::~test_ca() = default;

credentials test_ca::issue(const std::vector<std::string>& dns_names,
                           const std::vector<std::string>& ip_addresses, int not_before_days,
                           int not_after_days) const {
    key_ptr key = new_key();
    const std::string cn = dns_names.empty()
                               ? (ip_addresses.empty() ? "server" : ip_addresses.front())
                               : dns_names.front();
    cert_ptr cert = new_cert(key.get(), cn, impl_->serial++, not_before_days, not_after_days);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(impl_->cert.get()));
    std::string san;
    for (const auto& d : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
    for (const auto& ip : ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
    if (!san.empty()) add_extension(cert.get(), impl_->cert.get(), NID_subject_alt_name, san);
    add_extension(cert.get(), impl_->cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), impl_->cert.get(), NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), impl_->cert.get(), NID_authority_key_identifier, "keyid:always");
    check(X509_sign(cert.get(), impl_->key.get(), EVP_sha256()) > 0, "X509_sign (server)");
    return credentials{pem_of(cert.get()), pem_of(key.get())};
}

void test_ca::write_cert(const std::filesystem::path& path) const {
    std::ofstream(path, std::ios::binary) << cert_pem_;
}

std::filesystem::path test_ca::write_loopback_server_files(
    const std::filesystem::path& folder) const {
    const credentials c = issue({"localhost"}, {"127.0.0.1"});
    const auto write = [](const std::filesystem::path& p, const std::string& text) {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush()) throw std::runtime_error("cannot write " + p.string());
    };
    write(folder / "server.pem", c.cert_pem);
    write(folder / "server.key", c.key_pem);
    const auto ca_file = folder / "ca.pem";
    write_cert(ca_file);
    return ca_file;
}

credentials self_signed_app_certificate(bool rsa, long not_before_days, long not_after_days) {
    key_ptr key{rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256")};
    check(key != nullptr, "EVP_RSA_gen / EVP_EC_gen");
    cert_ptr cert = new_cert(key.get(), "agendad", 1, static_cast<int>(not_before_days),
                             static_cast<int>(not_after_days));
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) == 1,
          "X509_set_issuer_name");
    check(X509_sign(cert.get(), key.get(), EVP_sha256()) != 0, "X509_sign");
    return {pem_of(cert.get()), pem_of(key.get())};
}

}  // namespace agendad::test_support
