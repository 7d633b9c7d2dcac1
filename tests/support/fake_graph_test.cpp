// The fake Microsoft Graph driven over real TLS with agendad's HTTP client (trusting the fake's
// CA): the token endpoint (secret and certificate assertion), delta rounds, series expansion,
// responses, groups, subscriptions with the validation handshake against a small plain-HTTP
// listener on a thread of its own, notifications, and the faults tests inject.
#include "support/fake_graph.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "calendar/http/http_client.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
namespace ah = agendad::calendar::http;
using agendad::test_support::fake_graph;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);

// --- small helpers ---

std::string url_encode(std::string_view s) {
    std::string out;
    for (char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (std::isalnum(b) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            static constexpr char digits[] = "0123456789ABCDEF";
            out += '%';
            out += digits[b >> 4];
            out += digits[b & 15];
        }
    }
    return out;
}

std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

json::object parse(const std::string& text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) {
        ADD_FAILURE() << "not a JSON object: " << text;
        return {};
    }
    return v.get_object();
}

std::string str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

const json::array& arr(const json::object& o, std::string_view key) {
    static const json::array empty;
    const auto* v = o.if_contains(key);
    return v && v->is_array() ? v->get_array() : empty;
}

std::string error_code_of(const std::string& body) {
    const auto o = parse(body);
    const auto* e = o.if_contains("error");
    return e && e->is_object() ? str(e->get_object(), "code") : std::string();
}

std::string base64url(std::string_view in) {
    static constexpr char table[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned acc = 0;
    int bits = 0;
    for (char c : in) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += table[(acc >> bits) & 63];
        }
    }
    if (bits > 0) out += table[(acc << (6 - bits)) & 63];
    return out;
}

std::string iso(std::chrono::system_clock::time_point t) {
    const auto s = std::chrono::floor<std::chrono::seconds>(t);
    const auto day = std::chrono::floor<std::chrono::days>(s);
    const std::chrono::year_month_day ymd{day};
    const std::chrono::hh_mm_ss hms{s - day};
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                  int(hms.minutes().count()), int(hms.seconds().count()));
    return buf;
}

// A UTC event JSON for add_event.
std::string event_json(const std::string& subject, const std::string& start, const std::string& end,
                       const std::string& extra = "") {
    return R"({"subject":")" + subject + R"(","start":{"dateTime":")" + start +
           R"(","timeZone":"UTC"},"end":{"dateTime":")" + end + R"(","timeZone":"UTC"},)" +
           R"("organizer":{"emailAddress":{"address":"boss@contoso.com"}}, "isOrganizer":false)" +
           extra + "}";
}

// --- the client side ---

// agendad's HTTP client trusting the fake's CA, driven synchronously on an io_context.
class caller {
  public:
    explicit caller(const fake_graph& g)
        : graph_(g), client_(io_.get_executor(), ah::tls_options{true, g.ca_file()}) {}

    ah::result<ah::response> send(const std::string& method, const std::string& url,
                                  const std::string& body = "",
                                  std::vector<ah::header> headers = {}) {
        const auto u = ah::url::parse(url);
        EXPECT_TRUE(u) << url;
        if (!u) return ah::error{ah::failure::protocol, "bad url " + url};
        ah::request r;
        r.method = method;
        r.headers = std::move(headers);
        r.body = body;
        std::optional<ah::result<ah::response>> out;
        asio::co_spawn(
            io_, [&]() -> asio::awaitable<void> { out = co_await client_.send(*u, r); },
            asio::detached);
        io_.run();
        io_.restart();
        if (!out) return ah::error{ah::failure::protocol, "no result"};
        return *out;
    }

    // A status and body, failing the test on transport errors.
    ah::response must(const std::string& method, const std::string& url,
                      const std::string& body = "", std::vector<ah::header> headers = {}) {
        auto r = send(method, url, body, std::move(headers));
        EXPECT_TRUE(r) << method << " " << url << ": " << (r ? "" : r.error().message);
        return r ? *r : ah::response{};
    }

    ah::response token_request(const std::string& form, const std::string& tenant = "") {
        return must("POST",
                    graph_.authority() + "/" + (tenant.empty() ? "contoso-tenant" : tenant) +
                        "/oauth2/v2.0/token",
                    form, {{"Content-Type", "application/x-www-form-urlencoded"}});
    }

    std::string token() {
        const auto r = token_request(
            "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555"
            "&client_secret=test-client-secret&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default");
        EXPECT_EQ(r.status, 200) << r.body;
        return str(parse(r.body), "access_token");
    }

    // A Graph call with a bearer token (fetched once).
    ah::response graph(const std::string& method, const std::string& path_or_url,
                       const std::string& body = "") {
        if (bearer_.empty()) bearer_ = token();
        const std::string url =
            path_or_url.rfind("https://", 0) == 0 ? path_or_url : graph_.graph_url() + path_or_url;
        std::vector<ah::header> h{{"Authorization", "Bearer " + bearer_}};
        if (!body.empty()) h.push_back({"Content-Type", "application/json"});
        return must(method, url, body, std::move(h));
    }

    asio::io_context& io() { return io_; }
    ah::client& client() { return client_; }
    std::string bearer() {
        if (bearer_.empty()) bearer_ = token();
        return bearer_;
    }

  private:
    const fake_graph& graph_;
    asio::io_context io_;
    ah::client client_;
    std::string bearer_;
};

// --- a subscriber: plain HTTP on 127.0.0.1, its own thread ---

class listener {
  public:
    struct received {
        std::string method;
        std::string target;
        std::string content_type;
        std::string body;
    };
    // Answers validation requests by echoing validationToken (text/plain), everything else 202.
    // `mode`: "echo" (default), "wrong" (answers another token), "error" (500).
    explicit listener(std::string mode = "echo")
        : mode_(std::move(mode)),
          acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        asio::co_spawn(io_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~listener() {
        io_.stop();
        thread_.join();
    }

    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
    }
    std::vector<received> requests() const {
        std::lock_guard lock(mu_);
        return log_;
    }

  private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(with_error);
            if (ec) co_return;
            sockets_.push_back(std::make_unique<beast::tcp_stream>(std::move(socket)));
            asio::co_spawn(io_, serve(sockets_.back().get()), asio::detached);
        }
    }

    asio::awaitable<void> serve(beast::tcp_stream* stream) {
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request<bhttp::string_body> req;
            auto [ec, n] = co_await bhttp::async_read(*stream, buffer, req, with_error);
            if (ec) co_return;
            received r{std::string(req.method_string()), std::string(req.target()),
                       std::string(req[bhttp::field::content_type]), req.body()};
            {
                std::lock_guard lock(mu_);
                log_.push_back(r);
            }
            bhttp::response<bhttp::string_body> res{bhttp::status::accepted, req.version()};
            const auto pos = r.target.find("validationToken=");
            if (pos != std::string::npos) {
                const std::string token = url_decode(r.target.substr(pos + 16));
                res.result(mode_ == "error" ? bhttp::status::internal_server_error
                                            : bhttp::status::ok);
                res.set(bhttp::field::content_type, "text/plain");
                res.body() = mode_ == "wrong" ? "not the token" : token;
            }
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            auto [wec, wn] = co_await bhttp::async_write(*stream, res, with_error);
            if (wec || !req.keep_alive()) co_return;
        }
    }

    std::string mode_;
    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::vector<std::unique_ptr<beast::tcp_stream>> sockets_;
    mutable std::mutex mu_;
    std::vector<received> log_;
    std::thread thread_;
};

// --- a certificate with an RSA key, and a client assertion signed with it ---

struct rsa_identity {
    std::string cert_pem;
    std::string der;
    EVP_PKEY* key = nullptr;
    rsa_identity() {
        key = EVP_RSA_gen(2048);
        X509* x = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24);
        X509_set_pubkey(x, key);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("agendad app"), -1, -1,
                                   0);
        X509_set_issuer_name(x, name);
        X509_sign(x, key, EVP_sha256());
        BIO* bio = BIO_new(BIO_s_mem());
        PEM_write_bio_X509(bio, x);
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        cert_pem.assign(data, static_cast<std::size_t>(n));
        BIO_free(bio);
        unsigned char* d = nullptr;
        const int dn = i2d_X509(x, &d);
        der.assign(reinterpret_cast<const char*>(d), static_cast<std::size_t>(dn));
        OPENSSL_free(d);
        X509_free(x);
    }
    ~rsa_identity() { EVP_PKEY_free(key); }
    rsa_identity(const rsa_identity&) = delete;
    rsa_identity& operator=(const rsa_identity&) = delete;

    std::string thumbprint() const {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        EVP_Digest(der.data(), der.size(), md, &n, EVP_sha1(), nullptr);
        return base64url(std::string(reinterpret_cast<const char*>(md), n));
    }

    std::string assertion(const std::string& aud, long long exp_offset_s) const {
        const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
        const std::string header = R"({"alg":"RS256","typ":"JWT","x5t":")" + thumbprint() + "\"}";
        const std::string claims =
            R"({"aud":")" + aud +
            R"(","iss":"11111111-2222-3333-4444-555555555555","sub":"11111111-2222-3333-4444-555555555555","jti":"j1","nbf":)" +
            std::to_string(now) + R"(,"exp":)" + std::to_string(now + exp_offset_s) + "}";
        const std::string input = base64url(header) + "." + base64url(claims);
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        std::size_t len = 0;
        EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
        EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                       input.size());
        std::string sig(len, '\0');
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size());
        sig.resize(len);
        EVP_MD_CTX_free(ctx);
        return input + "." + base64url(sig);
    }
};

constexpr const char* anna = "anna@contoso.com";
constexpr const char* window_query =
    "?startDateTime=2030-01-01T00:00:00Z&endDateTime=2030-03-01T00:00:00Z";

fake_graph::options small_pages() {
    fake_graph::options o;
    o.page_size = 10;
    return o;
}

// All items of a delta round from `url`, following nextLinks; the deltaLink at the end.
struct round_result {
    std::vector<json::object> items;
    std::string delta_link;
    int pages = 0;
    int status = 200;
    std::string body;
};
round_result delta_round(caller& c, const std::string& url) {
    round_result out;
    std::string next = url;
    while (!next.empty() && out.pages < 20) {
        const auto r = c.graph("GET", next);
        ++out.pages;
        if (r.status != 200) {
            out.status = r.status;
            out.body = r.body;
            return out;
        }
        const auto page = parse(r.body);
        for (const auto& v : arr(page, "value")) out.items.push_back(v.get_object());
        next = str(page, "@odata.nextLink");
        out.delta_link = str(page, "@odata.deltaLink");
        if (!next.empty()) {
            EXPECT_TRUE(out.delta_link.empty());
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

TEST(fake_graph_test, token_with_the_client_secret) {
    fake_graph g({});
    caller c(g);
    const auto r = c.token_request(
        "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555"
        "&client_secret=test-client-secret&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default");
    ASSERT_EQ(r.status, 200) << r.body;
    const auto o = parse(r.body);
    EXPECT_EQ(str(o, "token_type"), "Bearer");
    EXPECT_EQ(o.at("expires_in").as_int64(), 3599);
    EXPECT_EQ(o.at("ext_expires_in").as_int64(), 3599);
    EXPECT_FALSE(str(o, "access_token").empty());
    EXPECT_EQ(g.tokens_issued(), 1);
}

TEST(fake_graph_test, wrong_secret_tenant_or_client_is_invalid_client) {
    fake_graph g({});
    caller c(g);
    const std::string scope = "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default";
    auto r = c.token_request(
        "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555"
        "&client_secret=wrong" +
        scope);
    EXPECT_EQ(r.status, 401);
    auto o = parse(r.body);
    EXPECT_EQ(str(o, "error"), "invalid_client");
    EXPECT_EQ(str(o, "error_description").rfind("AADSTS7000215: Invalid client secret", 0), 0u)
        << r.body;
    EXPECT_EQ(arr(o, "error_codes").at(0).as_int64(), 7000215);

    r = c.token_request(
        "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555"
        "&client_secret=test-client-secret" +
            scope,
        "other-tenant");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(str(parse(r.body), "error"), "invalid_client");

    r = c.token_request(
        "grant_type=client_credentials&client_id=someone-else"
        "&client_secret=test-client-secret" +
        scope);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(str(parse(r.body), "error"), "invalid_client");

    r = c.token_request(
        "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555"
        "&client_secret=test-client-secret");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(g.tokens_issued(), 0);
}

TEST(fake_graph_test, token_with_a_certificate_assertion) {
    const rsa_identity app;
    const rsa_identity stranger;
    fake_graph::options o;
    o.client_certificate_pem = app.cert_pem;
    o.client_secret.clear();
    fake_graph g(o);
    caller c(g);
    const std::string aud = g.authority() + "/contoso-tenant/oauth2/v2.0/token";
    const auto form = [](const std::string& assertion) {
        return "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555"
               "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
               "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-"
               "bearer&client_assertion=" +
               assertion;
    };
    auto r = c.token_request(form(app.assertion(aud, 600)));
    EXPECT_EQ(r.status, 200) << r.body;
    r = c.token_request(form(app.assertion(aud, -10)));  // expired
    EXPECT_EQ(r.status, 401) << r.body;
    r = c.token_request(form(app.assertion("https://login.microsoftonline.com/x", 600)));
    EXPECT_EQ(r.status, 401) << r.body;
    r = c.token_request(form(stranger.assertion(aud, 600)));  // x5t of another certificate
    EXPECT_EQ(r.status, 401) << r.body;
    r = c.token_request(
        "grant_type=client_credentials&client_id=11111111-2222-3333-4444-555555555555"
        "&client_secret=test-client-secret&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default");
    EXPECT_EQ(r.status, 401) << "secrets are refused when none is configured";
    EXPECT_EQ(g.tokens_issued(), 1);
}

// ---------------------------------------------------------------------------------------------
// Authorization

TEST(fake_graph_test, graph_calls_need_an_issued_unrevoked_token) {
    fake_graph g({});
    g.add_user(anna);
    caller c(g);
    const std::string url = g.graph_url() + "/users/" + anna + "/calendarView/delta" + window_query;
    auto r = c.must("GET", url);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(error_code_of(r.body), "InvalidAuthenticationToken");
    r = c.must("GET", url, "", {{"Authorization", "Bearer made-up"}});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(c.graph("GET", url).status, 200);
    g.revoke_tokens();
    r = c.graph("GET", url);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(parse(r.body).at("error").at("message").as_string(),
              "Access token has expired or is not yet valid.");
}

TEST(fake_graph_test, expired_tokens_are_refused) {
    fake_graph::options o;
    o.token_lifetime = std::chrono::seconds{1};
    fake_graph g(o);
    g.add_user(anna);
    caller c(g);
    EXPECT_EQ(c.graph("GET", std::string("/users/") + anna + "/calendarView" + window_query).status,
              200);
    std::this_thread::sleep_for(1100ms);
    EXPECT_EQ(c.graph("GET", std::string("/users/") + anna + "/calendarView" + window_query).status,
              401);
}

TEST(fake_graph_test, denied_and_unknown_users) {
    fake_graph g({});
    g.add_user(anna);
    g.add_user("bob@contoso.com");
    g.deny_user("BOB@contoso.com");
    caller c(g);
    auto r =
        c.graph("GET", std::string("/users/bob@contoso.com/calendarView/delta") + window_query);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(error_code_of(r.body), "ErrorAccessDenied");
    EXPECT_NE(r.body.find("Blocked by tenant configured AppOnly AccessPolicy settings"),
              std::string::npos);
    r = c.graph("GET", std::string("/users/nobody@contoso.com/calendarView/delta") + window_query);
    EXPECT_EQ(r.status, 404);
    r = c.graph("GET", std::string("/users/ANNA%40contoso.com/calendarView/delta") + window_query);
    EXPECT_EQ(r.status, 200) << "addresses are case-insensitive and may be percent-encoded";
    r = c.graph("GET", "/users/" + g.user_id(anna) + "/calendarView/delta" + window_query);
    EXPECT_EQ(r.status, 200) << "the user's id addresses it too";
}

// ---------------------------------------------------------------------------------------------
// Delta

TEST(fake_graph_test, delta_pages_then_changes_then_removals_then_gone) {
    fake_graph g(small_pages());
    std::vector<std::string> ids;
    for (int i = 0; i < 25; ++i) {
        const std::string day = (i + 1 < 10 ? "0" : "") + std::to_string(i + 1);
        const std::string start = "2030-01-" + day + "T09:00:00.0000000";
        const std::string end = "2030-01-" + day + "T10:00:00.0000000";
        ids.push_back(g.add_event(anna, event_json("m" + std::to_string(i), start, end)));
    }
    g.add_event(anna, event_json("outside", "2031-01-01T09:00:00", "2031-01-01T10:00:00"));
    caller c(g);

    auto first =
        delta_round(c, g.graph_url() + "/users/" + anna + "/calendarView/delta" + window_query);
    ASSERT_EQ(first.status, 200) << first.body;
    EXPECT_EQ(first.pages, 3);
    ASSERT_EQ(first.items.size(), 25u);
    EXPECT_EQ(str(first.items[0], "subject"), "m0");
    EXPECT_EQ(str(first.items[0], "@odata.type"), "#microsoft.graph.event");
    EXPECT_EQ(str(first.items[24], "subject"), "m24");
    ASSERT_EQ(first.delta_link.rfind(
                  g.graph_url() + "/users/" + anna + "/calendarView/delta?$deltatoken=", 0),
              0u)
        << first.delta_link;

    // Nothing changed: an empty round.
    auto none = delta_round(c, first.delta_link);
    EXPECT_EQ(none.items.size(), 0u);
    EXPECT_EQ(none.pages, 1);

    // One change and one addition.
    g.update_event(anna, ids[3], R"({"subject":"moved"})");
    const std::string added =
        g.add_event(anna, event_json("new", "2030-02-01T09:00:00", "2030-02-01T10:00:00"));
    auto changes = delta_round(c, none.delta_link);
    ASSERT_EQ(changes.items.size(), 2u);
    EXPECT_EQ(str(changes.items[0], "id"), ids[3]);
    EXPECT_EQ(str(changes.items[0], "subject"), "moved");
    EXPECT_NE(str(changes.items[0], "changeKey"), str(first.items[3], "changeKey"));
    EXPECT_EQ(str(changes.items[1], "id"), added);

    // A removal.
    g.remove_event(anna, ids[5]);
    auto removed = delta_round(c, changes.delta_link);
    ASSERT_EQ(removed.items.size(), 1u);
    EXPECT_EQ(str(removed.items[0], "id"), ids[5]);
    EXPECT_TRUE(removed.items[0].contains("@removed"));
    EXPECT_EQ(removed.items[0].at("@removed").at("reason").as_string(), "deleted");
    EXPECT_FALSE(g.event(anna, ids[5]));

    // Tokens expired: 410 SyncStateNotFound, then a new full round works.
    g.expire_delta_tokens();
    const auto r = c.graph("GET", removed.delta_link);
    EXPECT_EQ(r.status, 410);
    EXPECT_EQ(error_code_of(r.body), "SyncStateNotFound");
    auto again =
        delta_round(c, g.graph_url() + "/users/" + anna + "/calendarView/delta" + window_query);
    EXPECT_EQ(again.items.size(), 25u);  // 25 - 1 removed + 1 added
}

TEST(fake_graph_test, delta_needs_a_window_and_honours_maxpagesize) {
    fake_graph g(small_pages());
    for (int i = 0; i < 7; ++i) {
        g.add_event(anna, event_json("m", "2030-01-10T09:00:00", "2030-01-10T10:00:00"));
    }
    caller c(g);
    auto r = c.graph("GET", std::string("/users/") + anna + "/calendarView/delta");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_code_of(r.body), "ErrorInvalidParameter");
    r = c.must("GET", g.graph_url() + "/users/" + anna + "/calendarView/delta" + window_query, "",
               {{"Authorization", "Bearer " + c.bearer()}, {"Prefer", "odata.maxpagesize=3"}});
    ASSERT_EQ(r.status, 200);
    const auto page = parse(r.body);
    EXPECT_EQ(arr(page, "value").size(), 3u);
    EXPECT_FALSE(str(page, "@odata.nextLink").empty());
    // Offsets (a percent-encoded '+'): 10:30+01:00 to 11:00+01:00 overlaps 09:00Z-10:00Z, the
    // hour before it does not.
    auto w = c.graph("GET", std::string("/users/") + anna +
                                "/calendarView?startDateTime=2030-01-10T10:30:00%2B01:00"
                                "&endDateTime=2030-01-10T11:00:00%2B01:00");
    ASSERT_EQ(w.status, 200) << w.body;
    EXPECT_EQ(arr(parse(w.body), "value").size(), 7u);
    w = c.graph("GET", std::string("/users/") + anna +
                           "/calendarView?startDateTime=2030-01-10T09:00:00%2B01:00"
                           "&endDateTime=2030-01-10T10:00:00%2B01:00");
    ASSERT_EQ(w.status, 200) << w.body;
    EXPECT_EQ(arr(parse(w.body), "value").size(), 0u);
}

TEST(fake_graph_test, calendar_view_pages_with_skip) {
    fake_graph g(small_pages());
    for (int i = 0; i < 12; ++i) {
        g.add_event(anna, event_json("m", "2030-01-10T09:00:00", "2030-01-10T10:00:00"));
    }
    caller c(g);
    auto r = c.graph("GET", std::string("/users/") + anna + "/calendarView" + window_query);
    ASSERT_EQ(r.status, 200);
    auto page = parse(r.body);
    EXPECT_EQ(arr(page, "value").size(), 10u);
    const std::string next = str(page, "@odata.nextLink");
    ASSERT_NE(next.find("$skip=10"), std::string::npos) << next;
    r = c.graph("GET", next);
    ASSERT_EQ(r.status, 200);
    page = parse(r.body);
    EXPECT_EQ(arr(page, "value").size(), 2u);
    EXPECT_FALSE(page.contains("@odata.nextLink"));
}

// ---------------------------------------------------------------------------------------------
// Series

TEST(fake_graph_test, series_master_appears_as_its_occurrences) {
    fake_graph g(small_pages());
    // Mondays and Wednesdays from Monday 2030-01-07, 09:00-09:30 UTC, no end.
    const std::string master = g.add_event(
        anna, event_json("standup", "2030-01-07T09:00:00", "2030-01-07T09:30:00",
                         R"(,"recurrence":{"pattern":{"type":"weekly","interval":1,)"
                         R"("daysOfWeek":["monday","wednesday"],"firstDayOfWeek":"sunday"},)"
                         R"("range":{"type":"noEnd","startDate":"2030-01-07"}})"));
    const std::string daily =
        g.add_event(anna, event_json("daily", "2030-01-01T12:00:00", "2030-01-01T13:00:00",
                                     R"(,"recurrence":{"pattern":{"type":"daily","interval":2},)"
                                     R"("range":{"type":"numbered","startDate":"2030-01-01",)"
                                     R"("numberOfOccurrences":3}})"));
    caller c(g);
    const auto round = delta_round(c, g.graph_url() + "/users/" + anna +
                                          "/calendarView/delta?startDateTime=2030-01-01T00:00:00Z"
                                          "&endDateTime=2030-01-15T00:00:00Z");
    ASSERT_EQ(round.status, 200) << round.body;
    std::vector<std::string> ids;
    for (const auto& item : round.items) {
        EXPECT_EQ(str(item, "type"), "occurrence");
        EXPECT_FALSE(item.if_contains("id")->as_string() == master);
        ids.push_back(str(item, "id"));
    }
    const std::vector<std::string> expected{daily + "_occ_20300101",  daily + "_occ_20300103",
                                            daily + "_occ_20300105",  master + "_occ_20300107",
                                            master + "_occ_20300109", master + "_occ_20300114"};
    EXPECT_EQ(ids, expected);
    const auto& wed = round.items[4];
    EXPECT_EQ(str(wed, "seriesMasterId"), master);
    EXPECT_EQ(str(wed, "originalStart"), "2030-01-09T09:00:00Z");
    EXPECT_EQ(wed.at("start").at("dateTime").as_string(), "2030-01-09T09:00:00.0000000");
    EXPECT_EQ(wed.at("end").at("dateTime").as_string(), "2030-01-09T09:30:00.0000000");

    auto r = c.graph("GET", std::string("/users/") + anna + "/events/" + url_encode(master));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(str(parse(r.body), "type"), "seriesMaster");
    r = c.graph("GET", std::string("/users/") + anna + "/events/" + url_encode(ids[4]));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(str(parse(r.body), "seriesMasterId"), master);
    r = c.graph("GET", std::string("/users/") + anna + "/events/" + url_encode(master) +
                           "_occ_20300108");  // a Tuesday: not an instance
    EXPECT_EQ(r.status, 404);

    // Accepting one occurrence changes that occurrence only; the next round carries just it.
    r = c.graph("POST", std::string("/users/") + anna + "/events/" + url_encode(ids[4]) + "/accept",
                R"({"comment":"","sendResponse":true})");
    EXPECT_EQ(r.status, 202);
    const auto next = delta_round(c, round.delta_link);
    ASSERT_EQ(next.items.size(), 1u);
    EXPECT_EQ(str(next.items[0], "id"), ids[4]);
    EXPECT_EQ(next.items[0].at("responseStatus").at("response").as_string(), "accepted");
    r = c.graph("GET", std::string("/users/") + anna + "/events/" + url_encode(ids[3]));
    EXPECT_EQ(parse(r.body).at("responseStatus").at("response").as_string(), "none");
    // Accepting the master changes the whole series.
    r = c.graph("POST", std::string("/users/") + anna + "/events/" + url_encode(master) + "/accept",
                "{}");
    EXPECT_EQ(r.status, 202);
    EXPECT_EQ(delta_round(c, next.delta_link).items.size(), 3u);
}

// ---------------------------------------------------------------------------------------------
// Responses

TEST(fake_graph_test, decline_records_the_call_and_changes_the_response_status) {
    fake_graph g(small_pages());
    const std::string id =
        g.add_event(anna, event_json("review", "2030-01-10T09:00:00", "2030-01-10T10:00:00"));
    caller c(g);
    const auto first =
        delta_round(c, g.graph_url() + "/users/" + anna + "/calendarView/delta" + window_query);
    ASSERT_EQ(first.items.size(), 1u);
    const std::string key = str(first.items[0], "changeKey");

    auto r =
        c.graph("POST", std::string("/users/") + anna + "/events/" + url_encode(id) + "/decline",
                R"({"comment":"Clashes with the board.","sendResponse":false})");
    EXPECT_EQ(r.status, 202);
    EXPECT_EQ(r.body, "");
    const auto calls = g.responses();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].user, anna);
    EXPECT_EQ(calls[0].event_id, id);
    EXPECT_EQ(calls[0].action, "decline");
    EXPECT_EQ(calls[0].comment, "Clashes with the board.");
    EXPECT_FALSE(calls[0].send_response);

    r = c.graph("GET", std::string("/users/") + anna + "/events/" + url_encode(id));
    ASSERT_EQ(r.status, 200);
    const auto e = parse(r.body);
    EXPECT_EQ(e.at("responseStatus").at("response").as_string(), "declined");
    EXPECT_NE(str(e, "changeKey"), key);
    const auto next = delta_round(c, first.delta_link);
    ASSERT_EQ(next.items.size(), 1u);
    EXPECT_EQ(next.items[0].at("responseStatus").at("response").as_string(), "declined");

    r = c.graph("POST", std::string("/users/") + anna + "/events/unknown/accept", "{}");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(error_code_of(r.body), "ErrorItemNotFound");
}

TEST(fake_graph_test, decline_removes_when_configured) {
    fake_graph::options o = small_pages();
    o.decline_removes = true;
    fake_graph g(o);
    const std::string id =
        g.add_event(anna, event_json("review", "2030-01-10T09:00:00", "2030-01-10T10:00:00"));
    const std::string kept =
        g.add_event(anna, event_json("kept", "2030-01-11T09:00:00", "2030-01-11T10:00:00"));
    caller c(g);
    const auto first =
        delta_round(c, g.graph_url() + "/users/" + anna + "/calendarView/delta" + window_query);
    ASSERT_EQ(first.items.size(), 2u);
    EXPECT_EQ(c.graph("POST",
                      std::string("/users/") + anna + "/events/" + url_encode(kept) +
                          "/tentativelyAccept",
                      R"({"comment":"","sendResponse":true})")
                  .status,
              202);
    EXPECT_EQ(
        c.graph("POST", std::string("/users/") + anna + "/events/" + url_encode(id) + "/decline",
                R"({"comment":"no","sendResponse":true})")
            .status,
        202);
    EXPECT_EQ(c.graph("GET", std::string("/users/") + anna + "/events/" + url_encode(id)).status,
              404);
    const auto next = delta_round(c, first.delta_link);
    ASSERT_EQ(next.items.size(), 2u);
    std::map<std::string, json::object> by_id;
    for (const auto& item : next.items) by_id[str(item, "id")] = item;
    EXPECT_TRUE(by_id[id].contains("@removed"));
    EXPECT_EQ(by_id[kept].at("responseStatus").at("response").as_string(), "tentativelyAccepted");
}

// ---------------------------------------------------------------------------------------------
// Groups

TEST(fake_graph_test, group_members_are_paged) {
    fake_graph g(small_pages());
    std::vector<std::string> members;
    for (int i = 0; i < 23; ++i) members.push_back("user" + std::to_string(i) + "@contoso.com");
    g.set_group("group-1", members);
    caller c(g);
    std::vector<std::string> seen;
    std::string next = g.graph_url() + "/groups/group-1/transitiveMembers/microsoft.graph.user";
    int pages = 0;
    while (!next.empty() && pages < 10) {
        const auto r = c.graph("GET", next);
        ASSERT_EQ(r.status, 200) << r.body;
        ++pages;
        const auto page = parse(r.body);
        for (const auto& v : arr(page, "value")) {
            const auto& m = v.get_object();
            EXPECT_EQ(str(m, "@odata.type"), "#microsoft.graph.user");
            EXPECT_FALSE(str(m, "id").empty());
            EXPECT_EQ(str(m, "userPrincipalName"), str(m, "mail"));
            seen.push_back(str(m, "mail"));
        }
        next = str(page, "@odata.nextLink");
    }
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(seen, members);
    const auto r = c.graph("GET", "/groups/nope/transitiveMembers/microsoft.graph.user");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(error_code_of(r.body), "Request_ResourceNotFound");
}

// ---------------------------------------------------------------------------------------------
// Subscriptions and notifications

std::string subscription_body(const std::string& url, std::chrono::minutes ahead,
                              const std::string& lifecycle = "") {
    return R"({"changeType":"created,updated,deleted","notificationUrl":")" + url + R"(",)" +
           (lifecycle.empty() ? "" : R"("lifecycleNotificationUrl":")" + lifecycle + R"(",)") +
           R"("resource":"/users/anna@contoso.com/events","expirationDateTime":")" +
           iso(std::chrono::system_clock::now() + ahead) + R"(","clientState":"s3cret-state"})";
}

TEST(fake_graph_test, subscription_handshake_then_notifications) {
    fake_graph g({});
    g.add_user(anna);
    listener hook;
    caller c(g);
    auto r = c.graph("POST", "/subscriptions",
                     subscription_body(hook.url("/graph/notify?source=m365"), 4000min,
                                       hook.url("/graph/lifecycle")));
    ASSERT_EQ(r.status, 201) << r.body;
    const auto sub = parse(r.body);
    const std::string id = str(sub, "id");
    EXPECT_EQ(id.size(), 36u);
    EXPECT_EQ(str(sub, "clientState"), "s3cret-state");
    EXPECT_EQ(str(sub, "resource"), "/users/anna@contoso.com/events");
    EXPECT_EQ(str(sub, "applicationId"), "11111111-2222-3333-4444-555555555555");

    auto seen = hook.requests();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].method, "POST");
    EXPECT_EQ(seen[0].target.rfind("/graph/notify?source=m365&validationToken=", 0), 0u)
        << seen[0].target;
    EXPECT_EQ(seen[1].target.rfind("/graph/lifecycle?validationToken=", 0), 0u);
    ASSERT_EQ(g.subscriptions().size(), 1u);
    EXPECT_EQ(g.subscriptions()[0].user, anna);

    EXPECT_EQ(g.notify(anna, "AAMkEvent1="), 202);
    seen = hook.requests();
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[2].target, "/graph/notify?source=m365");
    EXPECT_EQ(seen[2].content_type.rfind("application/json", 0), 0u);
    const auto payload = parse(seen[2].body);
    const auto& n = arr(payload, "value").at(0).as_object();
    EXPECT_EQ(str(n, "subscriptionId"), id);
    EXPECT_EQ(str(n, "clientState"), "s3cret-state");
    EXPECT_EQ(str(n, "changeType"), "updated");
    EXPECT_EQ(str(n, "tenantId"), "contoso-tenant");
    EXPECT_EQ(str(n, "resource"), "Users/" + g.user_id(anna) + "/Events/AAMkEvent1=");
    EXPECT_EQ(n.at("resourceData").at("id").as_string(), "AAMkEvent1=");

    EXPECT_EQ(g.notify_lifecycle(anna, "reauthorizationRequired"), 202);
    seen = hook.requests();
    ASSERT_EQ(seen.size(), 4u);
    EXPECT_EQ(seen[3].target, "/graph/lifecycle");
    EXPECT_EQ(str(arr(parse(seen[3].body), "value").at(0).as_object(), "lifecycleEvent"),
              "reauthorizationRequired");
    EXPECT_EQ(g.notify("bob@contoso.com", "x"), 0);

    // Renew, then delete.
    r = c.graph(
        "PATCH", "/subscriptions/" + id,
        R"({"expirationDateTime":")" + iso(std::chrono::system_clock::now() + 60min) + "\"}");
    EXPECT_EQ(r.status, 200) << r.body;
    r = c.graph(
        "PATCH", "/subscriptions/" + id,
        R"({"expirationDateTime":")" + iso(std::chrono::system_clock::now() + 5000min) + "\"}");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(c.graph("DELETE", "/subscriptions/" + id).status, 204);
    EXPECT_EQ(c.graph("DELETE", "/subscriptions/" + id).status, 404);
    EXPECT_TRUE(g.subscriptions().empty());
}

TEST(fake_graph_test, subscriptions_refused_for_long_expiry_or_failed_handshake) {
    fake_graph g({});
    g.add_user(anna);
    caller c(g);
    listener good;
    auto r = c.graph("POST", "/subscriptions", subscription_body(good.url("/n"), 4300min));
    EXPECT_EQ(r.status, 400);
    EXPECT_TRUE(good.requests().empty()) << "no handshake for a refused expiration";

    listener wrong("wrong");
    r = c.graph("POST", "/subscriptions", subscription_body(wrong.url("/n"), 60min));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_code_of(r.body), "ValidationError");
    listener failing("error");
    r = c.graph("POST", "/subscriptions", subscription_body(failing.url("/n"), 60min));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(error_code_of(r.body), "ValidationError");
    // Nobody listening.
    std::string closed_url;
    {
        listener gone;
        closed_url = gone.url("/n");
    }
    r = c.graph("POST", "/subscriptions", subscription_body(closed_url, 60min));
    EXPECT_EQ(r.status, 400);
    EXPECT_TRUE(g.subscriptions().empty());
}

// ---------------------------------------------------------------------------------------------
// Faults and recording

TEST(fake_graph_test, fail_next_answers_429_with_retry_after_then_recovers) {
    fake_graph g(small_pages());
    g.add_user(anna);
    caller c(g);
    fake_graph::fault f;
    f.status = 429;
    f.retry_after = std::chrono::seconds{7};
    g.fail_next("/calendarView", f, 2);
    const std::string path = std::string("/users/") + anna + "/calendarView/delta" + window_query;
    for (int i = 0; i < 2; ++i) {
        const auto r = c.graph("GET", path);
        EXPECT_EQ(r.status, 429);
        EXPECT_EQ(r.find("Retry-After"), "7");
        EXPECT_EQ(error_code_of(r.body), "TooManyRequests");
    }
    EXPECT_EQ(c.graph("GET", path).status, 200);

    f = {};
    f.status = 503;
    f.body = R"({"error":{"code":"Custom","message":"x"}})";
    g.fail_next("", f);
    const auto r = c.graph("GET", path);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(error_code_of(r.body), "Custom");

    const auto log = g.requests();
    ASSERT_GE(log.size(), 5u);
    const auto& last = log.back();
    EXPECT_EQ(last.method, "GET");
    EXPECT_EQ(last.target, "/v1.0" + path);
    EXPECT_EQ(last.user, anna);
    EXPECT_EQ(last.status, 503);
    EXPECT_LE(last.received, last.answered);
}

TEST(fake_graph_test, status_zero_closes_the_connection) {
    fake_graph g({});
    g.add_user(anna);
    caller warm(g);
    const std::string token = warm.token();
    fake_graph::fault f;
    f.status = 0;
    g.fail_next("/calendarView", f);
    caller c(g);  // a fresh client: its first connection is not retried
    const auto r = c.send("GET", g.graph_url() + "/users/" + anna + "/calendarView" + window_query,
                          "", {{"Authorization", "Bearer " + token}});
    EXPECT_FALSE(r) << "status " << (r ? r->status : 0);
    EXPECT_EQ(g.requests().back().status, 0);
    // And the server goes on.
    EXPECT_EQ(c.graph("GET", std::string("/users/") + anna + "/calendarView" + window_query).status,
              200);
}

TEST(fake_graph_test, a_delay_does_not_block_other_requests) {
    fake_graph g({});
    g.add_user(anna);
    g.add_user("bob@contoso.com");
    caller setup(g);
    const std::string token = setup.bearer();
    fake_graph::fault f;
    f.status = 503;
    f.delay = 1500ms;
    g.fail_next("anna@contoso.com", f);

    asio::io_context io;
    ah::client slow(io.get_executor(), ah::tls_options{true, g.ca_file()});
    ah::client fast(io.get_executor(), ah::tls_options{true, g.ca_file()});
    const auto slow_url =
        *ah::url::parse(g.graph_url() + "/users/" + anna + "/calendarView" + window_query);
    const auto fast_url =
        *ah::url::parse(g.graph_url() + "/users/bob@contoso.com/calendarView" + window_query);
    ah::request req;
    req.headers = {{"Authorization", "Bearer " + token}};
    const auto start = steady::now();
    steady::duration slow_took{}, fast_took{};
    int slow_status = 0, fast_status = 0;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            const auto r = co_await slow.send(slow_url, req);
            slow_took = steady::now() - start;
            if (r) slow_status = r->status;
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer t(io, 100ms);
            co_await t.async_wait(with_error);
            const auto r = co_await fast.send(fast_url, req);
            fast_took = steady::now() - start;
            if (r) fast_status = r->status;
        },
        asio::detached);
    io.run_for(10s);
    EXPECT_EQ(slow_status, 503);
    EXPECT_EQ(fast_status, 200);
    EXPECT_GE(slow_took, 1500ms);
    EXPECT_LT(fast_took, 1200ms);
    EXPECT_EQ(g.max_in_flight_per_user(), 1);
}

TEST(fake_graph_test, concurrent_requests_for_one_user_are_counted) {
    fake_graph g({});
    g.add_user(anna);
    caller setup(g);
    const std::string token = setup.bearer();
    fake_graph::fault f;
    f.status = 503;
    f.delay = 300ms;
    g.fail_next("calendarView", f, 3);
    asio::io_context io;
    std::vector<std::unique_ptr<ah::client>> clients;
    const auto url =
        *ah::url::parse(g.graph_url() + "/users/" + anna + "/calendarView" + window_query);
    ah::request req;
    req.headers = {{"Authorization", "Bearer " + token}};
    int done = 0;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(
            std::make_unique<ah::client>(io.get_executor(), ah::tls_options{true, g.ca_file()}));
        asio::co_spawn(
            io,
            [&, cl = clients.back().get()]() -> asio::awaitable<void> {
                const auto r = co_await cl->send(url, req);
                if (r && r->status == 503) ++done;
            },
            asio::detached);
    }
    io.run_for(10s);
    EXPECT_EQ(done, 3);
    EXPECT_EQ(g.max_in_flight_per_user(), 3);
}

}  // namespace
