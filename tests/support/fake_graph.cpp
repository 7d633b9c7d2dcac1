// The fake Microsoft Graph: Graph and the token endpoint behind support/tls_http_server.h
// (HTTP/1.1 over TLS on its own io_context and thread, one coroutine per connection), all state
// under one mutex. Outbound requests (the subscription
// validation handshake, notifications) use agendad's own HTTP client: the handshake from the
// server's coroutine (asynchronously, without the mutex), notifications from the caller's thread
// on an io_context of their own.
#include "support/fake_graph.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "calendar/http/http_client.h"
#include "support/tls_http_server.h"

namespace agendad::test_support {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
namespace ah = agendad::calendar::http;
using sys_s = std::chrono::sys_seconds;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);
constexpr int max_occurrences = 50;
constexpr auto max_event_subscription = std::chrono::minutes{4230};
constexpr const char* graph_json_type =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8";
constexpr const char* access_policy_denial =
    "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy "
    "settings.";

// --- text ---

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool iequal(std::string_view a, std::string_view b) {
    return beast::iequals(a, b);
}

std::string base64url(std::string_view in) {
    static constexpr char table[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
    for (; i + 3 <= in.size(); i += 3) {
        const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += table[v & 63];
    }
    if (in.size() - i == 1) {
        const unsigned v = byte(i) << 16;
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
    } else if (in.size() - i == 2) {
        const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
    }
    return out;
}

// base64url or base64, padding optional; nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view in) {
    while (!in.empty() && in.back() == '=') in.remove_suffix(1);
    std::string out;
    unsigned acc = 0;
    int bits = 0;
    for (char c : in) {
        int v = -1;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        if (c >= '0' && c <= '9') v = c - '0' + 52;
        if (c == '-' || c == '+') v = 62;
        if (c == '_' || c == '/') v = 63;
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

std::string hex(std::string_view bytes, bool upper = false) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string out;
    for (char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::string guid_from(std::string_view sixteen_bytes) {
    const std::string h = hex(sixteen_bytes.substr(0, 16));
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20, 12);
}

std::string random_guid() {
    return guid_from(random_bytes(16));
}

std::string digest(std::string_view data, const EVP_MD* md) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), out, &n, md, nullptr) != 1) return {};
    return std::string(reinterpret_cast<const char*>(out), n);
}

// A stable id for a name (users, groups' members): a GUID made from its SHA-256.
std::string stable_guid(std::string_view name) {
    return guid_from(digest(name, EVP_sha256()));
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
            hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string percent_encode(std::string_view s) {
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

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        const auto pos = s.find(sep, start);
        out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
        if (pos == std::string_view::npos) return out;
        start = pos + 1;
    }
}

// key (lower case, decoded) → value (decoded). The first occurrence of a key wins.
std::map<std::string, std::string> parse_pairs(std::string_view text, bool plus_is_space) {
    std::map<std::string, std::string> out;
    if (text.empty()) return out;
    for (std::string_view part : split(text, '&')) {
        if (part.empty()) continue;
        const auto eq = part.find('=');
        const std::string key = lower(percent_decode(part.substr(0, eq), plus_is_space));
        const std::string value =
            eq == std::string_view::npos ? "" : percent_decode(part.substr(eq + 1), plus_is_space);
        out.emplace(key, value);
    }
    return out;
}

// --- time ---

bool read_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

// "2024-05-01", "2024-05-01T09:30", "2024-05-01T09:30:00.0000000", with "Z" or "+02:00" (also
// "+0200", and " 02:00" for a '+' that a URL query turned into a space). Without an offset the
// time is taken as UTC.
std::optional<sys_s> parse_time(std::string_view s) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
    if (!read_digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !read_digits(s, 5, 2, mo) ||
        s[7] != '-' || !read_digits(s, 8, 2, d)) {
        return std::nullopt;
    }
    std::size_t p = 10;
    if (p < s.size() && (s[p] == 'T' || s[p] == 't')) {
        ++p;
        if (!read_digits(s, p, 2, h) || p + 5 > s.size() || s[p + 2] != ':' ||
            !read_digits(s, p + 3, 2, mi)) {
            return std::nullopt;
        }
        p += 5;
        if (p < s.size() && s[p] == ':') {
            if (!read_digits(s, p + 1, 2, se)) return std::nullopt;
            p += 3;
            if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
                ++p;
                while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
            }
        }
    }
    long offset = 0;
    if (p < s.size()) {
        if (s[p] == 'Z' || s[p] == 'z') {
            ++p;
        } else if (s[p] == '+' || s[p] == '-' || s[p] == ' ') {
            const int sign = s[p] == '-' ? -1 : 1;
            int oh = 0, om = 0;
            if (!read_digits(s, p + 1, 2, oh)) return std::nullopt;
            p += 3;
            if (p < s.size() && s[p] == ':') ++p;
            if (read_digits(s, p, 2, om)) p += 2;
            offset = sign * (oh * 3600L + om * 60L);
        }
    }
    if (p != s.size()) return std::nullopt;
    const std::chrono::year_month_day ymd{std::chrono::year{y},
                                          std::chrono::month{static_cast<unsigned>(mo)},
                                          std::chrono::day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59 || se > 60) return std::nullopt;
    return sys_s{std::chrono::sys_days{ymd}} + std::chrono::hours{h} + std::chrono::minutes{mi} +
           std::chrono::seconds{se} - std::chrono::seconds{offset};
}

std::optional<std::chrono::sys_days> parse_date(std::string_view s) {
    if (s.size() != 10) return std::nullopt;
    const auto t = parse_time(s);
    if (!t) return std::nullopt;
    return std::chrono::floor<std::chrono::days>(*t);
}

// "2024-05-01T09:30:00" + suffix.
std::string format_time(sys_s t, const char* suffix) {
    const auto day = std::chrono::floor<std::chrono::days>(t);
    const std::chrono::year_month_day ymd{day};
    const std::chrono::hh_mm_ss hms{t - day};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d%s", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                  int(hms.minutes().count()), int(hms.seconds().count()), suffix);
    return buf;
}

std::string graph_local(sys_s t) {
    return format_time(t, ".0000000");
}  // event dateTime
std::string graph_utc(sys_s t) {
    return format_time(t, "Z");
}

sys_s now_s() {
    return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

std::string yyyymmdd(std::chrono::sys_days d) {
    const std::chrono::year_month_day ymd{d};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d%02u%02u", int(ymd.year()), unsigned(ymd.month()),
                  unsigned(ymd.day()));
    return buf;
}

// --- JSON ---

std::string jstr(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

const json::object* jobj(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v ? v->if_object() : nullptr;
}

std::optional<long long> jint(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64()) return static_cast<long long>(v->get_uint64());
    if (v->is_double()) return static_cast<long long>(v->get_double());
    return std::nullopt;
}

std::optional<json::object> parse_object(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.get_object());
}

// An event's start and end (dateTime read as UTC whatever its timeZone: a simplification).
std::optional<std::pair<sys_s, sys_s>> event_times(const json::object& e) {
    const auto* s = jobj(e, "start");
    const auto* en = jobj(e, "end");
    if (!s || !en) return std::nullopt;
    const auto start = parse_time(jstr(*s, "dateTime"));
    const auto end = parse_time(jstr(*en, "dateTime"));
    if (!start || !end) return std::nullopt;
    return std::make_pair(*start, std::max(*start, *end));
}

bool overlaps(sys_s start, sys_s end, sys_s ws, sys_s we) {
    return start < we && (end > ws || (end == start && start >= ws));
}

void set_date_time(json::object& e, std::string_view which, sys_s t) {
    json::object when;
    if (const auto* old = jobj(e, which)) when = *old;
    when["dateTime"] = graph_local(t);
    if (!when.contains("timeZone")) when["timeZone"] = "UTC";
    e[which] = std::move(when);
}

std::string new_change_key() {
    return base64url(random_bytes(15)) + "AAA==";
}
std::string new_event_id() {
    return "AAMkAG" + base64url(random_bytes(33)) + "AAA=";
}

// --- recurrence ---

struct instance_time {
    std::string id;
    sys_s start;
    sys_s end;
};

int weekday_number(std::string_view name) {
    static constexpr const char* names[] = {"sunday",   "monday", "tuesday", "wednesday",
                                            "thursday", "friday", "saturday"};
    for (int i = 0; i < 7; ++i) {
        if (iequal(name, names[i])) return i;
    }
    return -1;
}

// The instances of a series master overlapping [ws, we): daily and weekly patterns expanded
// (interval, daysOfWeek, firstDayOfWeek; ranges endDate, numbered, noEnd), other patterns give
// their first instance only; at most max_occurrences.
std::vector<instance_time> expand_series(const json::object& master, const std::string& master_id,
                                         sys_s ws, sys_s we) {
    using std::chrono::days;
    std::vector<instance_time> out;
    const auto times = event_times(master);
    if (!times) return out;
    const auto [first_start, first_end] = *times;
    const auto duration = first_end - first_start;
    const auto first_day = std::chrono::floor<days>(first_start);
    const auto time_of_day = first_start - first_day;

    json::object empty;
    const json::object* recurrence = jobj(master, "recurrence");
    const json::object& pattern =
        recurrence && jobj(*recurrence, "pattern") ? *jobj(*recurrence, "pattern") : empty;
    const json::object& range =
        recurrence && jobj(*recurrence, "range") ? *jobj(*recurrence, "range") : empty;
    const std::string type = jstr(pattern, "type");
    const int interval = static_cast<int>(std::max(1LL, jint(pattern, "interval").value_or(1)));
    const auto start_date = parse_date(jstr(range, "startDate")).value_or(first_day);
    std::optional<std::chrono::sys_days> end_date;
    if (iequal(jstr(range, "type"), "endDate")) end_date = parse_date(jstr(range, "endDate"));
    long long count_limit = -1;
    if (iequal(jstr(range, "type"), "numbered")) {
        count_limit = std::max(1LL, jint(range, "numberOfOccurrences").value_or(1));
    }

    long long produced = 0;
    // false: stop expanding.
    const auto consider = [&](std::chrono::sys_days d) {
        if (end_date && d > *end_date) return false;
        if (count_limit >= 0 && produced >= count_limit) return false;
        ++produced;
        const sys_s start = d + time_of_day;
        const sys_s end = start + duration;
        if (start >= we) return false;
        if (overlaps(start, end, ws, we)) {
            out.push_back({master_id + "_occ_" + yyyymmdd(d), start, end});
            if (out.size() >= static_cast<std::size_t>(max_occurrences)) return false;
        }
        return true;
    };

    constexpr int guard = 40000;
    if (iequal(type, "daily")) {
        auto d = start_date;
        for (int i = 0; i < guard && consider(d); ++i) d += days{interval};
    } else if (iequal(type, "weekly")) {
        std::set<int> wanted;
        if (const auto* v = pattern.if_contains("daysOfWeek"); v && v->is_array()) {
            for (const auto& day : v->get_array()) {
                if (day.is_string()) {
                    if (const int n = weekday_number(day.get_string()); n >= 0) wanted.insert(n);
                }
            }
        }
        if (wanted.empty()) wanted.insert(int(std::chrono::weekday{start_date}.c_encoding()));
        int first_dow = weekday_number(jstr(pattern, "firstDayOfWeek"));
        if (first_dow < 0) first_dow = 0;
        const int start_dow = int(std::chrono::weekday{start_date}.c_encoding());
        auto week = start_date - days{(start_dow - first_dow + 7) % 7};
        bool go = true;
        for (int i = 0; i < guard && go; ++i, week += days{7 * interval}) {
            for (int k = 0; k < 7 && go; ++k) {
                const auto d = week + days{k};
                if (d < start_date || !wanted.contains(int(std::chrono::weekday{d}.c_encoding()))) {
                    continue;
                }
                go = consider(d);
            }
        }
    } else {
        consider(first_day);
    }
    return out;
}

bool is_series_master(const json::object& e) {
    return iequal(jstr(e, "type"), "seriesMaster");
}

// Splits "<master>_occ_<yyyymmdd>".
std::optional<std::pair<std::string, std::chrono::sys_days>> occurrence_id(const std::string& id) {
    const auto pos = id.rfind("_occ_");
    if (pos == std::string::npos || pos == 0 || id.size() != pos + 13) return std::nullopt;
    const std::string date = id.substr(pos + 5);
    const auto d =
        parse_date(date.substr(0, 4) + "-" + date.substr(4, 2) + "-" + date.substr(6, 2));
    if (!d) return std::nullopt;
    return std::make_pair(id.substr(0, pos), *d);
}

// --- answers ---

struct reply {
    int status = 200;
    std::string body;
    std::string content_type = graph_json_type;
    std::vector<std::pair<std::string, std::string>> headers;
    bool reset = false;  // close the connection instead of answering
    std::string user;    // for the record, when the path does not name it
};

std::string iso_now_for_errors() {
    return format_time(now_s(), "");
}

reply graph_error(int status, std::string_view code, std::string_view message,
                  const std::string& request_id) {
    json::object inner;
    inner["date"] = iso_now_for_errors();
    inner["request-id"] = request_id;
    inner["client-request-id"] = request_id;
    json::object error;
    error["code"] = code;
    error["message"] = message;
    error["innerError"] = std::move(inner);
    json::object body;
    body["error"] = std::move(error);
    reply r;
    r.status = status;
    r.body = json::serialize(body);
    return r;
}

std::pair<const char*, const char*> default_graph_error(int status) {
    switch (status) {
        case 400:
            return {"BadRequest", "The request is malformed or incorrect."};
        case 401:
            return {"InvalidAuthenticationToken", "Access token has expired or is not yet valid."};
        case 403:
            return {"ErrorAccessDenied", "Access is denied. Check credentials and try again."};
        case 404:
            return {"ErrorItemNotFound", "The specified object was not found in the store."};
        case 409:
        case 412:
            return {"ErrorIrresolvableConflict",
                    "The send or update operation could not be performed because the change key "
                    "passed in the request does not match the current change key for the item."};
        case 410:
            return {"SyncStateNotFound", "The sync state generation is not found."};
        case 429:
            return {"TooManyRequests", "Application is over its MailboxConcurrency limit."};
        case 500:
            return {"InternalServerError", "An internal server error occurred."};
        case 502:
            return {"BadGateway", "The server received an invalid response from upstream."};
        case 503:
            return {"ServiceUnavailable", "The service is temporarily unavailable."};
        case 504:
            return {"GatewayTimeout", "The request timed out."};
        default:
            return {"UnknownError", "An unknown error occurred."};
    }
}

// The identity platform's error shape (token endpoint).
reply identity_error(int status, std::string_view error, long code, std::string_view description,
                     const std::string& request_id) {
    const std::string stamp = format_time(now_s(), "Z");
    json::object body;
    body["error"] = error;
    body["error_description"] = "AADSTS" + std::to_string(code) + ": " + std::string(description) +
                                "\r\nTrace ID: " + request_id +
                                "\r\nCorrelation ID: " + request_id +
                                "\r\nTimestamp: " + format_time(now_s(), "Z");
    json::array codes;
    codes.push_back(code);
    body["error_codes"] = std::move(codes);
    body["timestamp"] = stamp;
    body["trace_id"] = request_id;
    body["correlation_id"] = request_id;
    body["error_uri"] = "https://login.microsoftonline.com/error?code=" + std::to_string(code);
    reply r;
    r.status = status;
    r.content_type = "application/json; charset=utf-8";
    r.headers.emplace_back("Cache-Control", "no-store, no-cache");
    r.body = json::serialize(body);
    return r;
}

reply json_reply(int status, const json::object& body) {
    reply r;
    r.status = status;
    r.body = json::serialize(body);
    return r;
}

// --- a request as the handlers see it ---

struct incoming {
    std::string method;
    std::string target;
    std::string query_text;
    std::vector<std::string> raw_segments;  // path segments as received
    std::vector<std::string> segments;      // decoded
    std::map<std::string, std::string> query;
    std::string authorization;
    std::string prefer;
    std::string body;
    std::string request_id;

    bool is(std::size_t i, std::string_view name) const {
        return i < segments.size() && iequal(segments[i], name);
    }
    const std::string* param(const std::string& key) const {
        const auto it = query.find(key);
        return it == query.end() ? nullptr : &it->second;
    }
};

bool is_token_path(const incoming& in) {
    return in.segments.size() == 4 && in.is(1, "oauth2") && in.is(2, "v2.0") && in.is(3, "token");
}

// --- certificates ---

struct evp_key_deleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

struct client_certificate {
    std::string der;
    std::unique_ptr<EVP_PKEY, evp_key_deleter> key;
};

std::optional<client_certificate> load_certificate(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return std::nullopt;
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!cert) return std::nullopt;
    client_certificate out;
    unsigned char* der = nullptr;
    const int n = i2d_X509(cert, &der);
    if (n > 0) {
        out.der.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n));
        OPENSSL_free(der);
    }
    out.key.reset(X509_get_pubkey(cert));
    X509_free(cert);
    if (out.der.empty() || !out.key) return std::nullopt;
    return out;
}

bool verify_rs256(EVP_PKEY* key, std::string_view data, std::string_view signature) {
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) return false;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx) return false;
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
              EVP_DigestVerify(
                  ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                  reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

// Why a client assertion is refused; empty when it is good.
std::string check_assertion(const std::string& jwt, const client_certificate& cert,
                            const std::string& audience, const std::string& client_id) {
    const auto parts = split(jwt, '.');
    if (parts.size() != 3) return "the assertion is not a JWS compact serialization";
    const auto header_text = base64_decode(parts[0]);
    const auto claims_text = base64_decode(parts[1]);
    const auto signature = base64_decode(parts[2]);
    if (!header_text || !claims_text || !signature) return "the assertion is not base64url";
    const auto header = parse_object(*header_text);
    const auto claims = parse_object(*claims_text);
    if (!header || !claims) return "the assertion's header or claims are not JSON objects";
    if (jstr(*header, "alg") != "RS256") return "the assertion is not signed with RS256";
    const std::string x5t = jstr(*header, "x5t");
    const std::string x5t256 = jstr(*header, "x5t#S256");
    if (x5t.empty() && x5t256.empty()) return "the assertion's header has no x5t";
    if (!x5t.empty() && x5t != base64url(digest(cert.der, EVP_sha1()))) {
        return "the assertion's x5t does not match the certificate";
    }
    if (!x5t256.empty() && x5t256 != base64url(digest(cert.der, EVP_sha256()))) {
        return "the assertion's x5t#S256 does not match the certificate";
    }
    const std::string_view signed_part(jwt.data(), parts[0].size() + 1 + parts[1].size());
    if (!verify_rs256(cert.key.get(), signed_part, *signature)) {
        return "Client assertion failed signature validation.";
    }
    if (jstr(*claims, "aud") != audience) {
        return "The audience claim value is invalid '" + jstr(*claims, "aud") + "'.";
    }
    if (jstr(*claims, "iss") != client_id || jstr(*claims, "sub") != client_id) {
        return "The client assertion's iss and sub must be the client id.";
    }
    const long long now = now_s().time_since_epoch().count();
    const auto exp = jint(*claims, "exp");
    if (!exp || *exp <= now) return "The provided client assertion is expired.";
    if (const auto nbf = jint(*claims, "nbf"); nbf && *nbf > now + 300) {
        return "The provided client assertion is not yet valid.";
    }
    return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct fake_graph::impl {
    struct occurrence_state {
        json::object patch;  // fields that differ from the master (responseStatus, changeKey)
        bool removed = false;
        std::uint64_t version = 0;
    };
    struct stored_event {
        json::object data;
        std::uint64_t version = 0;
        bool removed = false;
        std::map<std::string, occurrence_state> occurrences;
    };
    struct mailbox {
        std::string address;  // lower case
        std::string id;
        std::map<std::string, stored_event> events;
    };
    struct round {
        std::string user;
        sys_s window_start;
        sys_s window_end;
        std::uint64_t snapshot = 0;
        std::vector<json::value> items;
    };
    struct skip_state {
        std::shared_ptr<const round> r;
        std::size_t offset = 0;
    };
    struct delta_state {
        std::string user;
        sys_s window_start;
        sys_s window_end;
        std::uint64_t version = 0;
    };
    struct pending_fault {
        std::string path;
        fault f;
        int remaining = 0;
    };
    struct stored_subscription {
        subscription pub;
        sys_s expires;
        std::string creator_id;
    };

    explicit impl(options o) : opt(std::move(o)), server(server_options(opt)) {
        if (opt.page_size <= 0) opt.page_size = 10;
        if (!opt.client_certificate_pem.empty()) {
            client_cert = load_certificate(opt.client_certificate_pem);
            if (!client_cert) {
                throw std::invalid_argument(
                    "fake_graph: client_certificate_pem is not a PEM "
                    "certificate");
            }
        }
        server.start([this](http_connection&, const http_request& req) { return handle(req); });
    }

    static tls_http_server::options server_options(const options& o) {
        tls_http_server::options so;
        so.ca_name = "agendad fake Graph CA";
        so.folder = o.folder;
        so.temp_prefix = "agendad-fake-graph";
        so.too_large = [] {
            const reply r = graph_error(413, "RequestEntityTooLarge",
                                        "The request is larger than the fake accepts.", "");
            return http_answer{413, r.content_type, {}, r.body};
        };
        so.faults = o.faults;
        return so;
    }

    std::string authority() const { return server.origin(); }
    std::string graph_url() const { return authority() + "/v1.0"; }

    // --- server ---

    asio::awaitable<http_answer> handle(const http_request& req) {
        const reply r = co_await process(req);
        if (r.reset) co_return http_answer::reset();
        co_return http_answer{r.status, r.body.empty() ? std::string() : r.content_type, r.headers,
                              r.body};
    }

    static incoming describe(const bhttp::request<bhttp::string_body>& req) {
        incoming in;
        in.method = std::string(req.method_string());
        in.target = std::string(req.target());
        const auto q = in.target.find('?');
        const std::string_view path = std::string_view(in.target).substr(0, q);
        if (q != std::string::npos) in.query_text = in.target.substr(q + 1);
        for (std::string_view seg : split(path, '/')) {
            if (seg.empty()) continue;
            in.raw_segments.emplace_back(seg);
            in.segments.push_back(percent_decode(seg, false));
        }
        in.query = parse_pairs(in.query_text, false);
        in.authorization = std::string(req[bhttp::field::authorization]);
        for (const auto& f : req) {
            if (iequal(f.name_string(), "Prefer")) {
                in.prefer += std::string(f.value()) + ",";
            }
        }
        in.body = req.body();
        const auto client_id = req["client-request-id"];
        in.request_id = client_id.empty() ? random_guid() : std::string(client_id);
        return in;
    }

    asio::awaitable<reply> process(const bhttp::request<bhttp::string_body>& req) {
        const incoming in = describe(req);
        request_record rec;
        rec.method = in.method;
        rec.target = in.target;
        rec.body = in.body;
        rec.received = steady::now();
        std::optional<fault> f;
        {
            std::lock_guard lock(mu);
            if (in.is(0, "v1.0") && in.is(1, "users") && in.segments.size() >= 3) {
                const mailbox* mb = find_user(in.segments[2]);
                rec.user = mb ? mb->address : lower(in.segments[2]);
            }
            if (!rec.user.empty()) {
                const int now = ++in_flight[rec.user];
                max_in_flight = std::max(max_in_flight, now);
            }
            f = take_fault(in.target);
        }
        reply r;
        if (f) {
            if (f->delay > 0ms) {
                auto ex = co_await asio::this_coro::executor;
                asio::steady_timer t(ex, f->delay);
                co_await t.async_wait(with_error);
            }
            r = fault_reply(*f, in);
        } else if (in.method == "POST" && in.segments.size() == 2 && in.is(0, "v1.0") &&
                   in.is(1, "subscriptions")) {
            r = co_await create_subscription(in);
        } else {
            std::lock_guard lock(mu);
            r = route(in);
        }
        r.headers.emplace_back("request-id", in.request_id);
        r.headers.emplace_back("client-request-id", in.request_id);
        {
            std::lock_guard lock(mu);
            if (!rec.user.empty()) --in_flight[rec.user];
            if (rec.user.empty()) rec.user = r.user;
            rec.status = r.reset ? 0 : r.status;
            rec.answered = steady::now();
            log.push_back(std::move(rec));
        }
        co_return r;
    }

    std::optional<fault> take_fault(const std::string& target) {
        for (auto it = faults.begin(); it != faults.end(); ++it) {
            if (target.find(it->path) == std::string::npos) continue;
            fault f = it->f;
            if (--it->remaining <= 0) faults.erase(it);
            return f;
        }
        return std::nullopt;
    }

    static reply fault_reply(const fault& f, const incoming& in) {
        reply r;
        if (f.status == 0) {
            r.reset = true;
            return r;
        }
        if (!f.body.empty()) {
            r.status = f.status;
            r.body = f.body;
        } else if (is_token_path(in)) {
            r = identity_error(
                f.status,
                f.status >= 500 || f.status == 429 ? "temporarily_unavailable" : "invalid_request",
                f.status >= 500 || f.status == 429 ? 50196L : 900144L,
                "The server is unable to process the request now.", in.request_id);
        } else {
            const auto [code, message] = default_graph_error(f.status);
            r = graph_error(f.status, code, message, in.request_id);
        }
        if (f.retry_after)
            r.headers.emplace_back("Retry-After", std::to_string(f.retry_after->count()));
        return r;
    }

    // --- routing (under the mutex) ---

    reply route(const incoming& in) {
        if (is_token_path(in)) {
            if (in.method != "POST") {
                return identity_error(405, "invalid_request", 900561,
                                      "The endpoint only accepts POST requests.", in.request_id);
            }
            return token(in);
        }
        if (!in.is(0, "v1.0")) {
            return graph_error(404, "ResourceNotFound", "Unsupported API version or path.",
                               in.request_id);
        }
        if (auto denied = check_token(in)) return *denied;
        const auto& s = in.segments;
        if (in.is(1, "users") && s.size() >= 4) {
            mailbox* mb = find_user(s[2]);
            if (!mb) {
                return graph_error(404, "ErrorInvalidUser",
                                   "The requested user '" + s[2] + "' is invalid.", in.request_id);
            }
            if (denied_users.contains(mb->address)) {
                return graph_error(403, "ErrorAccessDenied", access_policy_denial, in.request_id);
            }
            if (s.size() == 4 && in.is(3, "calendarView")) {
                if (in.method != "GET") return not_allowed(in);
                return calendar_view(in, *mb);
            }
            if (s.size() == 5 && in.is(3, "calendarView") && in.is(4, "delta")) {
                if (in.method != "GET") return not_allowed(in);
                return delta(in, *mb);
            }
            if (s.size() == 5 && in.is(3, "events")) {
                if (in.method != "GET") return not_allowed(in);
                return get_event(in, *mb, s[4]);
            }
            if (s.size() == 6 && in.is(3, "events")) {
                if (in.method != "POST") return not_allowed(in);
                return respond(in, *mb, s[4], s[5]);
            }
        }
        if (in.is(1, "groups") && s.size() == 5 && in.is(3, "transitiveMembers") &&
            in.is(4, "microsoft.graph.user")) {
            if (in.method != "GET") return not_allowed(in);
            return group_members(in, s[2]);
        }
        if (in.is(1, "subscriptions")) {
            if (s.size() == 2 && in.method == "GET") return list_subscriptions();
            if (s.size() == 3) return subscription_call(in, s[2]);
            if (s.size() == 2) return not_allowed(in);
        }
        const std::string last = s.empty() ? std::string() : s.back();
        return graph_error(400, "BadRequest", "Resource not found for the segment '" + last + "'.",
                           in.request_id);
    }

    static reply not_allowed(const incoming& in) {
        return graph_error(405, "Request_BadRequest",
                           "The " + in.method + " method is not supported for this resource.",
                           in.request_id);
    }

    mailbox* find_user(const std::string& segment) {
        const auto it = users.find(lower(segment));
        if (it != users.end()) return &it->second;
        for (auto& [address, mb] : users) {
            if (iequal(mb.id, segment)) return &mb;
        }
        return nullptr;
    }
    const mailbox* find_user(const std::string& segment) const {
        return const_cast<impl*>(this)->find_user(segment);
    }

    mailbox& ensure_user(const std::string& address) {
        const std::string key = lower(address);
        auto [it, added] = users.try_emplace(key);
        if (added) {
            it->second.address = key;
            it->second.id = stable_guid("user:" + key);
        }
        return it->second;
    }

    std::optional<reply> check_token(const incoming& in) {
        std::string_view auth = in.authorization;
        std::string token;
        if (auth.size() > 7 && iequal(auth.substr(0, 7), "Bearer ")) {
            token = std::string(auth.substr(7));
            while (!token.empty() && token.front() == ' ') token.erase(0, 1);
        }
        std::optional<reply> r;
        if (token.empty()) {
            r = graph_error(401, "InvalidAuthenticationToken", "Access token is empty.",
                            in.request_id);
        } else {
            const auto it = tokens.find(token);
            if (it == tokens.end() || it->second <= steady::now()) {
                r = graph_error(401, "InvalidAuthenticationToken",
                                "Access token has expired or is not yet valid.", in.request_id);
            }
        }
        if (r) {
            r->headers.emplace_back("WWW-Authenticate",
                                    "Bearer realm=\"\", authorization_uri=\"" + authority() +
                                        "/common/oauth2/authorize\", "
                                        "client_id=\"00000003-0000-0000-c000-000000000000\"");
        }
        return r;
    }

    // --- token endpoint ---

    reply token(const incoming& in) {
        const auto form = parse_pairs(in.body, true);
        const auto field = [&](const char* name) {
            const auto it = form.find(name);
            return it == form.end() ? std::string() : it->second;
        };
        const std::string tenant = in.segments[0];
        for (const char* required : {"grant_type", "client_id", "scope"}) {
            if (field(required).empty()) {
                return identity_error(400, "invalid_request", 900144,
                                      std::string("The request body must contain the following "
                                                  "parameter: '") +
                                          required + "'.",
                                      in.request_id);
            }
        }
        if (field("grant_type") != "client_credentials") {
            return identity_error(
                400, "unsupported_grant_type", 70003,
                "The app requested an unsupported grant type '" + field("grant_type") + "'.",
                in.request_id);
        }
        if (!iequal(tenant, opt.tenant)) {
            return identity_error(401, "invalid_client", 90002,
                                  "Tenant '" + tenant +
                                      "' not found. Check to make sure you have the correct "
                                      "tenant ID and are signing into the correct cloud.",
                                  in.request_id);
        }
        if (field("client_id") != opt.client_id) {
            return identity_error(401, "invalid_client", 700016,
                                  "Application with identifier '" + field("client_id") +
                                      "' was not found in the directory '" + tenant + "'.",
                                  in.request_id);
        }
        const std::string scope = field("scope");
        if (scope.size() < 9 || scope.substr(scope.size() - 9) != "/.default") {
            return identity_error(400, "invalid_scope", 1002012,
                                  "The provided value for scope " + scope +
                                      " is not valid. Client credential flows must have a scope "
                                      "value with /.default suffixed to the resource identifier.",
                                  in.request_id);
        }
        const std::string assertion = field("client_assertion");
        if (!assertion.empty()) {
            if (field("client_assertion_type") !=
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
                return identity_error(400, "invalid_request", 700023,
                                      "The client_assertion_type is not supported.", in.request_id);
            }
            if (!client_cert) {
                return identity_error(401, "invalid_client", 700027,
                                      "The certificate with identifier used to sign the client "
                                      "assertion is not registered on application.",
                                      in.request_id);
            }
            const std::string why = check_assertion(
                assertion, *client_cert, authority() + "/" + opt.tenant + "/oauth2/v2.0/token",
                opt.client_id);
            if (!why.empty()) {
                return identity_error(401, "invalid_client", 700027,
                                      "Client assertion failed validation: " + why, in.request_id);
            }
        } else {
            const std::string secret = field("client_secret");
            if (secret.empty()) {
                return identity_error(401, "invalid_client", 7000218,
                                      "The request body must contain the following parameter: "
                                      "'client_assertion' or 'client_secret'.",
                                      in.request_id);
            }
            if (opt.client_secret.empty() || secret != opt.client_secret) {
                return identity_error(
                    401, "invalid_client", 7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client secret value, not the client secret ID, for a secret added to "
                    "app '" +
                        opt.client_id + "'.",
                    in.request_id);
            }
        }
        const std::string access = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." +
                                   base64url(random_bytes(48)) + "." + base64url(random_bytes(32));
        tokens[access] = steady::now() + opt.token_lifetime;
        ++issued;
        json::object body;
        body["token_type"] = "Bearer";
        body["expires_in"] = static_cast<long long>(opt.token_lifetime.count());
        body["ext_expires_in"] = static_cast<long long>(opt.token_lifetime.count());
        body["access_token"] = access;
        reply r = json_reply(200, body);
        r.content_type = "application/json; charset=utf-8";
        r.headers.emplace_back("Cache-Control", "no-store, no-cache");
        return r;
    }

    // --- events ---

    static json::object render(const json::object& data) {
        json::object out;
        out["@odata.type"] = "#microsoft.graph.event";
        out["@odata.etag"] = "W/\"" + jstr(data, "changeKey") + "\"";
        for (const auto& [k, v] : data) out[k] = v;
        return out;
    }

    static json::object removed_item(const std::string& id) {
        json::object out;
        out["@odata.type"] = "#microsoft.graph.event";
        out["id"] = id;
        json::object why;
        why["reason"] = "deleted";
        out["@removed"] = std::move(why);
        return out;
    }

    static json::object occurrence_object(const stored_event& master, const std::string& master_id,
                                          const instance_time& t) {
        json::object o = master.data;
        o["id"] = t.id;
        o["type"] = "occurrence";
        o["seriesMasterId"] = master_id;
        o["recurrence"] = nullptr;
        o["originalStart"] = graph_utc(t.start);
        set_date_time(o, "start", t.start);
        set_date_time(o, "end", t.end);
        if (const auto it = master.occurrences.find(t.id); it != master.occurrences.end()) {
            for (const auto& [k, v] : it->second.patch) o[k] = v;
        }
        return o;
    }

    struct item {
        sys_s start;
        std::string id;
        json::object obj;
        bool removed = false;
    };

    // The items `e` shows in [ws, we): itself, or its occurrences for a series master.
    static std::vector<item> instances(const std::string& id, const stored_event& e, sys_s ws,
                                       sys_s we) {
        std::vector<item> out;
        if (is_series_master(e.data)) {
            for (const auto& t : expand_series(e.data, id, ws, we)) {
                const auto it = e.occurrences.find(t.id);
                const bool gone = it != e.occurrences.end() && it->second.removed;
                out.push_back({t.start, t.id, occurrence_object(e, id, t), gone});
            }
        } else if (const auto times = event_times(e.data)) {
            if (overlaps(times->first, times->second, ws, we)) {
                out.push_back({times->first, id, e.data, false});
            }
        }
        return out;
    }

    // Items for a delta round: everything in the window (since == 0) or what changed since.
    static std::vector<json::value> delta_items(const mailbox& mb, sys_s ws, sys_s we,
                                                std::uint64_t since) {
        std::vector<item> all;
        for (const auto& [id, e] : mb.events) {
            if (since == 0) {
                if (e.removed) continue;
                for (auto& x : instances(id, e, ws, we)) {
                    if (!x.removed) all.push_back(std::move(x));
                }
                continue;
            }
            const bool master = is_series_master(e.data);
            if (e.version > since) {
                if (e.removed) {
                    if (master) {
                        for (auto& x : instances(id, e, ws, we)) {
                            all.push_back({x.start, x.id, {}, true});
                        }
                    } else {
                        const auto times = event_times(e.data);
                        all.push_back({times ? times->first : sys_s{}, id, {}, true});
                    }
                } else if (master) {
                    for (auto& x : instances(id, e, ws, we)) all.push_back(std::move(x));
                } else {
                    auto xs = instances(id, e, ws, we);
                    if (xs.empty()) {  // moved out of the window
                        const auto times = event_times(e.data);
                        all.push_back({times ? times->first : sys_s{}, id, {}, true});
                    }
                    for (auto& x : xs) all.push_back(std::move(x));
                }
            } else if (master && !e.removed) {
                std::set<std::string> changed;
                for (const auto& [occ, st] : e.occurrences) {
                    if (st.version > since) changed.insert(occ);
                }
                if (changed.empty()) continue;
                for (auto& x : instances(id, e, ws, we)) {
                    if (changed.contains(x.id)) all.push_back(std::move(x));
                }
            }
        }
        std::stable_sort(all.begin(), all.end(), [](const item& a, const item& b) {
            return a.start != b.start ? a.start < b.start : a.id < b.id;
        });
        std::vector<json::value> out;
        out.reserve(all.size());
        for (const auto& x : all) {
            out.emplace_back(x.removed ? removed_item(x.id) : render(x.obj));
        }
        return out;
    }

    std::size_t page_size_for(const incoming& in) const {
        auto n = static_cast<std::size_t>(opt.page_size);
        const auto pos = lower(in.prefer).find("odata.maxpagesize=");
        if (pos != std::string::npos) {
            const long asked = std::strtol(in.prefer.c_str() + pos + 18, nullptr, 10);
            if (asked > 0) n = std::min(n, static_cast<std::size_t>(asked));
        }
        if (const auto* top = in.param("$top")) {
            const long asked = std::strtol(top->c_str(), nullptr, 10);
            if (asked > 0) n = std::min(n, static_cast<std::size_t>(asked));
        }
        return n;
    }

    std::string user_base(const incoming& in) const {
        return graph_url() + "/users/" + in.raw_segments[2];
    }

    reply gone(const incoming& in) const {
        return graph_error(410, "SyncStateNotFound",
                           "The sync state generation is not found; generation=" +
                               std::to_string(generation) + ".",
                           in.request_id);
    }

    // startDateTime/endDateTime, or a 400.
    std::optional<std::pair<sys_s, sys_s>> window(const incoming& in, reply& error) const {
        const auto* s = in.param("startdatetime");
        const auto* e = in.param("enddatetime");
        if (!s || !e) {
            error = graph_error(400, "ErrorInvalidParameter",
                                "This request requires a time window specified by the query "
                                "string parameters StartDateTime and EndDateTime.",
                                in.request_id);
            return std::nullopt;
        }
        const auto start = parse_time(*s);
        const auto end = parse_time(*e);
        if (!start || !end) {
            error = graph_error(400, "ErrorInvalidParameter",
                                "The value of the StartDateTime or EndDateTime parameter is not a "
                                "valid date and time.",
                                in.request_id);
            return std::nullopt;
        }
        if (*end <= *start) {
            error = graph_error(400, "ErrorInvalidParameter",
                                "The EndDateTime parameter must be later than StartDateTime.",
                                in.request_id);
            return std::nullopt;
        }
        return std::make_pair(*start, *end);
    }

    reply delta(const incoming& in, const mailbox& mb) {
        std::shared_ptr<const round> r;
        std::size_t offset = 0;
        if (const auto* skip = in.param("$skiptoken")) {
            const auto it = skip_tokens.find(*skip);
            if (it == skip_tokens.end() || it->second.r->user != mb.address) return gone(in);
            r = it->second.r;
            offset = it->second.offset;
        } else if (const auto* dt = in.param("$deltatoken")) {
            const auto it = delta_tokens.find(*dt);
            if (it == delta_tokens.end() || it->second.user != mb.address) return gone(in);
            auto fresh = std::make_shared<round>();
            fresh->user = mb.address;
            fresh->window_start = it->second.window_start;
            fresh->window_end = it->second.window_end;
            fresh->snapshot = version;
            fresh->items =
                delta_items(mb, fresh->window_start, fresh->window_end, it->second.version);
            r = std::move(fresh);
        } else {
            reply error;
            const auto w = window(in, error);
            if (!w) return error;
            auto fresh = std::make_shared<round>();
            fresh->user = mb.address;
            fresh->window_start = w->first;
            fresh->window_end = w->second;
            fresh->snapshot = version;
            fresh->items = delta_items(mb, w->first, w->second, 0);
            r = std::move(fresh);
        }
        const std::size_t page = page_size_for(in);
        json::array value;
        const std::size_t end = std::min(r->items.size(), offset + page);
        for (std::size_t i = offset; i < end; ++i) value.push_back(r->items[i]);
        json::object body;
        body["@odata.context"] = graph_url() + "/$metadata#Collection(event)";
        const std::string token = base64url(random_bytes(24));
        if (end < r->items.size()) {
            skip_tokens[token] = skip_state{r, end};
            body["@odata.nextLink"] = user_base(in) + "/calendarView/delta?$skiptoken=" + token;
        } else {
            delta_tokens[token] = delta_state{r->user, r->window_start, r->window_end, r->snapshot};
            body["@odata.deltaLink"] = user_base(in) + "/calendarView/delta?$deltatoken=" + token;
        }
        body["value"] = std::move(value);
        reply out = json_reply(200, body);
        out.headers.emplace_back("Preference-Applied", "odata.maxpagesize=" + std::to_string(page));
        return out;
    }

    reply calendar_view(const incoming& in, const mailbox& mb) const {
        reply error;
        const auto w = window(in, error);
        if (!w) return error;
        const auto items = delta_items(mb, w->first, w->second, 0);
        std::size_t offset = 0;
        if (const auto* skip = in.param("$skip")) {
            offset =
                static_cast<std::size_t>(std::max(0L, std::strtol(skip->c_str(), nullptr, 10)));
        }
        const std::size_t page = page_size_for(in);
        const std::size_t end = std::min(items.size(), offset + page);
        json::array value;
        for (std::size_t i = offset; i < end; ++i) value.push_back(items[i]);
        json::object body;
        body["@odata.context"] =
            graph_url() + "/$metadata#users('" + mb.address + "')/calendarView";
        if (end < items.size()) {
            std::string query;
            for (std::string_view part : split(in.query_text, '&')) {
                const auto eq = part.find('=');
                if (part.empty() || lower(percent_decode(part.substr(0, eq), false)) == "$skip") {
                    continue;
                }
                query += std::string(part) + "&";
            }
            body["@odata.nextLink"] =
                user_base(in) + "/calendarView?" + query + "$skip=" + std::to_string(end);
        }
        body["value"] = std::move(value);
        return json_reply(200, body);
    }

    // The event or occurrence `id` as it is now; nullopt when unknown or removed.
    std::optional<json::object> lookup(const mailbox& mb, const std::string& id) const {
        if (const auto it = mb.events.find(id); it != mb.events.end()) {
            if (it->second.removed) return std::nullopt;
            return it->second.data;
        }
        const auto occ = occurrence_id(id);
        if (!occ) return std::nullopt;
        const auto it = mb.events.find(occ->first);
        if (it == mb.events.end() || it->second.removed || !is_series_master(it->second.data)) {
            return std::nullopt;
        }
        const sys_s day{occ->second};
        for (const auto& x : instances(occ->first, it->second, day - 1s, day + 24h)) {
            if (x.id == id && !x.removed) return x.obj;
        }
        return std::nullopt;
    }

    reply get_event(const incoming& in, const mailbox& mb, const std::string& id) const {
        const auto e = lookup(mb, id);
        if (!e) {
            return graph_error(404, "ErrorItemNotFound",
                               "The specified object was not found in the store.", in.request_id);
        }
        json::object body;
        body["@odata.context"] =
            graph_url() + "/$metadata#users('" + mb.address + "')/events/$entity";
        for (const auto& [k, v] : render(*e)) body[k] = v;
        return json_reply(200, body);
    }

    // Applies a change to the event or occurrence `id`; false when unknown or removed.
    bool change_event(mailbox& mb, const std::string& id, const json::object& patch, bool remove) {
        json::object full = patch;
        full["changeKey"] = new_change_key();
        full["lastModifiedDateTime"] = graph_local(now_s()) + "Z";
        if (const auto it = mb.events.find(id); it != mb.events.end()) {
            if (it->second.removed) return false;
            for (const auto& [k, v] : full) it->second.data[k] = v;
            it->second.removed = remove;
            it->second.version = ++version;
            return true;
        }
        if (!lookup(mb, id)) return false;
        const auto occ = occurrence_id(id);
        auto& st = mb.events.at(occ->first).occurrences[id];
        for (const auto& [k, v] : full) st.patch[k] = v;
        st.removed = remove;
        st.version = ++version;
        return true;
    }

    reply respond(const incoming& in, mailbox& mb, const std::string& id,
                  const std::string& action_segment) {
        std::string action;
        for (const char* a : {"accept", "tentativelyAccept", "decline"}) {
            if (iequal(action_segment, a)) action = a;
        }
        if (action.empty()) {
            return graph_error(400, "BadRequest",
                               "Resource not found for the segment '" + action_segment + "'.",
                               in.request_id);
        }
        const auto e = lookup(mb, id);
        if (!e) {
            return graph_error(404, "ErrorItemNotFound",
                               "The specified object was not found in the store.", in.request_id);
        }
        json::object body;
        if (!in.body.empty()) {
            const auto parsed = parse_object(in.body);
            if (!parsed) {
                return graph_error(
                    400, "BadRequest",
                    "Unable to read JSON request payload. Please ensure Content-Type "
                    "header is set and payload is of valid JSON format.",
                    in.request_id);
            }
            body = *parsed;
        }
        if (const auto* v = e->if_contains("isOrganizer"); v && v->is_bool() && v->get_bool()) {
            return graph_error(400, "ErrorInvalidRequest",
                               "Your request can't be completed. You can't respond to this meeting "
                               "because you're the meeting organizer.",
                               in.request_id);
        }
        response_call call;
        call.user = mb.address;
        call.event_id = id;
        call.action = action;
        call.comment = jstr(body, "comment");
        if (const auto* v = body.if_contains("sendResponse"); v && v->is_bool()) {
            call.send_response = v->get_bool();
        }
        calls.push_back(call);
        json::object status;
        status["response"] = action == "accept"              ? "accepted"
                             : action == "tentativelyAccept" ? "tentativelyAccepted"
                                                             : "declined";
        status["time"] = graph_utc(now_s());
        json::object patch;
        patch["responseStatus"] = std::move(status);
        change_event(mb, id, patch, action == "decline" && opt.decline_removes);
        reply r;
        r.status = 202;
        return r;
    }

    // --- groups ---

    reply group_members(const incoming& in, const std::string& group_id) const {
        const auto it = groups.find(group_id);
        if (it == groups.end()) {
            return graph_error(404, "Request_ResourceNotFound",
                               "Resource '" + group_id +
                                   "' does not exist or one of its queried reference-property "
                                   "objects are not present.",
                               in.request_id);
        }
        std::size_t offset = 0;
        if (const auto* skip = in.param("$skiptoken")) {
            if (skip->size() < 3 || skip->substr(0, 2) != "RF") {
                return graph_error(400, "Directory_ExpiredPageToken",
                                   "The specified page token value has expired and can no longer "
                                   "be included in your request.",
                                   in.request_id);
            }
            offset = std::strtoul(skip->c_str() + 2, nullptr, 16);
        }
        const auto& members = it->second;
        const std::size_t page = page_size_for(in);
        const std::size_t end = std::min(members.size(), offset + page);
        json::array value;
        for (std::size_t i = offset; i < end; ++i) {
            json::object m;
            m["@odata.type"] = "#microsoft.graph.user";
            const std::string address = lower(members[i]);
            const auto u = users.find(address);
            m["id"] = u != users.end() ? u->second.id : stable_guid("user:" + address);
            m["mail"] = members[i];
            m["userPrincipalName"] = members[i];
            value.push_back(std::move(m));
        }
        json::object body;
        body["@odata.context"] = graph_url() + "/$metadata#users";
        if (end < members.size()) {
            char token[32];
            std::snprintf(token, sizeof token, "RF%zx", end);
            body["@odata.nextLink"] = graph_url() + "/groups/" + in.raw_segments[2] +
                                      "/transitiveMembers/microsoft.graph.user?$skiptoken=" + token;
        }
        body["value"] = std::move(value);
        return json_reply(200, body);
    }

    // --- subscriptions ---

    json::object subscription_json(const stored_subscription& s) const {
        json::object o;
        o["@odata.context"] = graph_url() + "/$metadata#subscriptions/$entity";
        o["id"] = s.pub.id;
        o["resource"] = s.pub.resource;
        o["applicationId"] = opt.client_id;
        o["changeType"] = s.pub.change_type;
        o["clientState"] = s.pub.client_state;
        o["notificationUrl"] = s.pub.notification_url;
        o["notificationQueryOptions"] = nullptr;
        if (s.pub.lifecycle_url.empty()) {
            o["lifecycleNotificationUrl"] = nullptr;
        } else {
            o["lifecycleNotificationUrl"] = s.pub.lifecycle_url;
        }
        o["expirationDateTime"] = s.pub.expiration;
        o["creatorId"] = s.creator_id;
        o["includeResourceData"] = nullptr;
        o["latestSupportedTlsVersion"] = "v1_2";
        o["encryptionCertificate"] = nullptr;
        o["encryptionCertificateId"] = nullptr;
        o["notificationUrlAppId"] = nullptr;
        return o;
    }

    // The expiration or a 400 reply.
    static std::optional<sys_s> check_expiration(const std::string& text, const incoming& in,
                                                 reply& error) {
        const auto t = parse_time(text);
        if (!t) {
            error = graph_error(400, "InvalidRequest",
                                "expirationDateTime is missing or not a valid date and time.",
                                in.request_id);
            return std::nullopt;
        }
        if (*t <= now_s()) {
            error =
                graph_error(400, "InvalidRequest",
                            "Subscription expiration can only be in the future.", in.request_id);
            return std::nullopt;
        }
        if (*t > now_s() + max_event_subscription + 1min) {
            error = graph_error(400, "InvalidRequest",
                                "Subscription expiration can only be 4230 minutes in the future.",
                                in.request_id);
            return std::nullopt;
        }
        return t;
    }

    reply list_subscriptions() const {
        json::array value;
        for (const auto& s : subs) {
            auto o = subscription_json(s);
            o.erase("@odata.context");
            value.push_back(std::move(o));
        }
        json::object body;
        body["@odata.context"] = graph_url() + "/$metadata#subscriptions";
        body["value"] = std::move(value);
        return json_reply(200, body);
    }

    reply subscription_call(const incoming& in, const std::string& id) {
        const auto it = std::find_if(subs.begin(), subs.end(),
                                     [&](const stored_subscription& s) { return s.pub.id == id; });
        if (it == subs.end()) {
            return graph_error(404, "ResourceNotFound", "The object was not found.", in.request_id);
        }
        reply r;
        if (in.method == "GET") {
            r = json_reply(200, subscription_json(*it));
        } else if (in.method == "DELETE") {
            r.user = it->pub.user;
            subs.erase(it);
            r.status = 204;
            return r;
        } else if (in.method == "PATCH") {
            const auto body = parse_object(in.body);
            if (!body) {
                return graph_error(400, "BadRequest", "Unable to read JSON request payload.",
                                   in.request_id);
            }
            const auto t = check_expiration(jstr(*body, "expirationDateTime"), in, r);
            if (!t) return r;
            it->expires = *t;
            it->pub.expiration = jstr(*body, "expirationDateTime");
            r = json_reply(200, subscription_json(*it));
        } else {
            return not_allowed(in);
        }
        r.user = it->pub.user;
        return r;
    }

    // "/users/{id}/events" (or "users/{id}/calendar/events", ...) → {id}.
    static std::string resource_user(const std::string& resource) {
        std::vector<std::string> segs;
        for (std::string_view s : split(resource, '/')) {
            if (!s.empty()) segs.push_back(percent_decode(s, false));
        }
        if (segs.size() < 3 || !iequal(segs[0], "users") || !iequal(segs.back(), "events")) {
            return {};
        }
        return segs[1];
    }

    // Sends the validation request to `url`; empty when the subscriber answered correctly.
    static asio::awaitable<std::string> validate(const std::string& url_text,
                                                 const std::filesystem::path& trust) {
        const auto u = ah::url::parse(url_text);
        if (!u) co_return "the URL " + url_text + " is not valid";
        const std::string token =
            "Validation: Testing client application reachability for subscription Request-Id: " +
            random_guid();
        ah::request req;
        req.method = "POST";
        req.target = u->target + (u->target.find('?') == std::string::npos ? "?" : "&") +
                     "validationToken=" + percent_encode(token);
        req.headers.push_back(ah::header{"Content-Type", "text/plain; charset=utf-8"});
        ah::limits lim;
        lim.max_response_bytes = 64 * 1024;
        lim.connect_timeout = 10s;
        lim.request_timeout = 10s;
        const auto ex = co_await asio::this_coro::executor;
        ah::client client(ex, ah::tls_options{true, trust}, lim);
        const auto res = co_await client.send(*u, req);
        if (!res) co_return "the request to " + url_text + " failed: " + res.error().message;
        if (res->status != 200) {
            co_return url_text + " answered " + std::to_string(res->status) + " instead of 200";
        }
        const auto type = res->find("Content-Type");
        if (!type || lower(*type).rfind("text/plain", 0) != 0) {
            co_return url_text + " did not answer with Content-Type text/plain";
        }
        if (res->body != token) co_return url_text + " did not echo the validation token";
        co_return std::string();
    }

    asio::awaitable<reply> create_subscription(const incoming& in) {
        stored_subscription s;
        std::filesystem::path trust;
        {
            std::lock_guard lock(mu);
            if (auto denied = check_token(in)) co_return *denied;
            const auto body = parse_object(in.body);
            if (!body) {
                co_return graph_error(400, "BadRequest", "Unable to read JSON request payload.",
                                      in.request_id);
            }
            s.pub.change_type = jstr(*body, "changeType");
            s.pub.notification_url = jstr(*body, "notificationUrl");
            s.pub.lifecycle_url = jstr(*body, "lifecycleNotificationUrl");
            s.pub.resource = jstr(*body, "resource");
            s.pub.client_state = jstr(*body, "clientState");
            s.pub.expiration = jstr(*body, "expirationDateTime");
            const std::string user = resource_user(s.pub.resource);
            if (s.pub.change_type.empty() || s.pub.notification_url.empty() || user.empty()) {
                co_return graph_error(400, "InvalidRequest",
                                      "changeType, notificationUrl and a resource "
                                      "/users/{id}/events are required.",
                                      in.request_id);
            }
            for (std::string_view t : split(s.pub.change_type, ',')) {
                if (t != "created" && t != "updated" && t != "deleted") {
                    co_return graph_error(400, "InvalidRequest",
                                          "Invalid changeType '" + std::string(t) + "'.",
                                          in.request_id);
                }
            }
            if (s.pub.client_state.size() > 128) {
                co_return graph_error(400, "InvalidRequest",
                                      "clientState can be at most 128 characters.", in.request_id);
            }
            reply error;
            const auto t = check_expiration(s.pub.expiration, in, error);
            if (!t) co_return error;
            s.expires = *t;
            const mailbox* mb = find_user(user);
            if (!mb) {
                co_return graph_error(404, "ErrorInvalidUser",
                                      "The requested user '" + user + "' is invalid.",
                                      in.request_id);
            }
            s.pub.user = mb->address;
            if (denied_users.contains(mb->address)) {
                reply r =
                    graph_error(403, "ErrorAccessDenied", access_policy_denial, in.request_id);
                r.user = mb->address;
                co_return r;
            }
            trust = notification_ca.empty() ? server.ca_file() : notification_ca;
        }
        std::string why = co_await validate(s.pub.notification_url, trust);
        if (why.empty() && !s.pub.lifecycle_url.empty()) {
            why = co_await validate(s.pub.lifecycle_url, trust);
        }
        if (!why.empty()) {
            reply r = graph_error(400, "ValidationError",
                                  "Subscription validation request failed. " + why, in.request_id);
            r.user = s.pub.user;
            co_return r;
        }
        std::lock_guard lock(mu);
        s.pub.id = random_guid();
        s.creator_id = stable_guid("app:" + opt.client_id);
        subs.push_back(s);
        reply r = json_reply(201, subscription_json(s));
        r.user = s.pub.user;
        co_return r;
    }

    // POSTs `body` to `url` from the caller's thread (an io_context of its own); the status.
    static asio::awaitable<void> post_json(const std::string& url_text, const std::string& body,
                                           const std::filesystem::path& trust, int& status) {
        const auto u = ah::url::parse(url_text);
        if (!u) co_return;
        ah::request req;
        req.method = "POST";
        req.headers.push_back(ah::header{"Content-Type", "application/json; charset=utf-8"});
        req.body = body;
        ah::limits lim;
        lim.connect_timeout = 10s;
        lim.request_timeout = 10s;
        const auto ex = co_await asio::this_coro::executor;
        ah::client client(ex, ah::tls_options{true, trust}, lim);
        const auto res = co_await client.send(*u, req);
        if (res) status = res->status;
    }

    static int post(const std::string& url, const std::string& body,
                    const std::filesystem::path& trust) {
        asio::io_context ctx;
        int status = 0;
        asio::co_spawn(ctx, post_json(url, body, trust, status), asio::detached);
        ctx.run();
        return status;
    }

    struct delivery {
        std::string url;
        std::string body;
    };

    std::vector<delivery> notifications(const std::string& user, const std::string& event_id,
                                        const std::string& lifecycle_event) const {
        std::vector<delivery> out;
        const mailbox* mb = find_user(user);
        if (!mb) return out;
        for (const auto& s : subs) {
            if (s.pub.user != mb->address || s.expires <= now_s()) continue;
            json::object n;
            n["subscriptionId"] = s.pub.id;
            n["subscriptionExpirationDateTime"] = s.pub.expiration;
            std::string url;
            if (lifecycle_event.empty()) {
                bool updated = false;
                for (std::string_view t : split(s.pub.change_type, ',')) updated |= t == "updated";
                if (!updated) continue;
                const std::string resource = "Users/" + mb->id + "/Events/" + event_id;
                n["changeType"] = "updated";
                n["resource"] = resource;
                json::object data;
                data["@odata.type"] = "#Microsoft.Graph.Event";
                data["@odata.id"] = resource;
                data["@odata.etag"] = "W/\"" + new_change_key() + "\"";
                data["id"] = event_id;
                n["resourceData"] = std::move(data);
                n["clientState"] = s.pub.client_state;
                n["tenantId"] = opt.tenant;
                url = s.pub.notification_url;
            } else {
                n["tenantId"] = opt.tenant;
                n["clientState"] = s.pub.client_state;
                n["lifecycleEvent"] = lifecycle_event;
                url = s.pub.lifecycle_url.empty() ? s.pub.notification_url : s.pub.lifecycle_url;
            }
            json::array value;
            value.push_back(std::move(n));
            json::object body;
            body["value"] = std::move(value);
            out.push_back({url, json::serialize(body)});
        }
        return out;
    }

    int deliver(const std::vector<delivery>& ds) const {
        std::filesystem::path trust;
        {
            std::lock_guard lock(mu);
            trust = notification_ca.empty() ? server.ca_file() : notification_ca;
        }
        int result = 0;
        for (const auto& d : ds) {
            const int status = post(d.url, d.body, trust);
            if (result == 0 || (result >= 200 && result < 300)) result = status;
        }
        return result;
    }

    // --- state ---

    options opt;
    mutable std::mutex mu;
    std::optional<client_certificate> client_cert;

    std::map<std::string, mailbox> users;  // by lower-case address
    std::uint64_t version = 0;
    std::map<std::string, skip_state> skip_tokens;
    std::map<std::string, delta_state> delta_tokens;
    int generation = 1;
    std::map<std::string, steady::time_point> tokens;
    int issued = 0;
    std::vector<pending_fault> faults;
    std::set<std::string> denied_users;
    std::vector<request_record> log;
    std::map<std::string, int> in_flight;
    int max_in_flight = 0;
    std::vector<response_call> calls;
    std::map<std::string, std::vector<std::string>> groups;
    std::vector<stored_subscription> subs;
    std::filesystem::path notification_ca;

    // Last: destroyed first, so its thread stops before the state it serves goes.
    tls_http_server server;
};

// ---------------------------------------------------------------------------------------------

fake_graph::fake_graph(options o) : impl_(std::make_unique<impl>(std::move(o))) {}
fake_graph::~fake_graph() = default;

std::uint16_t fake_graph::port() const {
    return impl_->server.port();
}
std::string fake_graph::authority() const {
    return impl_->authority();
}
std::string fake_graph::graph_url() const {
    return impl_->graph_url();
}
std::filesystem::path fake_graph::ca_file() const {
    return impl_->server.ca_file();
}

void fake_graph::add_user(const std::string& address) {
    std::lock_guard lock(impl_->mu);
    impl_->ensure_user(address);
}

std::string fake_graph::user_id(const std::string& address) const {
    std::lock_guard lock(impl_->mu);
    const auto it = impl_->users.find(lower(address));
    return it == impl_->users.end() ? stable_guid("user:" + lower(address)) : it->second.id;
}

std::string fake_graph::add_event(const std::string& user, const std::string& event_json) {
    auto parsed = parse_object(event_json);
    if (!parsed) throw std::invalid_argument("fake_graph::add_event: not a JSON object");
    json::object& e = *parsed;
    const std::string now = graph_local(now_s()) + "Z";
    if (jstr(e, "id").empty()) e["id"] = new_event_id();
    if (jstr(e, "changeKey").empty()) e["changeKey"] = new_change_key();
    if (jstr(e, "iCalUId").empty()) {
        e["iCalUId"] = "040000008200E00074C5B7101A82E00800000000" + hex(random_bytes(16), true);
    }
    if (jstr(e, "createdDateTime").empty()) e["createdDateTime"] = now;
    if (jstr(e, "lastModifiedDateTime").empty()) e["lastModifiedDateTime"] = now;
    if (jstr(e, "type").empty()) {
        const auto* r = e.if_contains("recurrence");
        e["type"] = r && r->is_object() ? "seriesMaster" : "singleInstance";
    }
    if (!e.contains("responseStatus")) {
        json::object status;
        status["response"] = "none";
        status["time"] = "0001-01-01T00:00:00Z";
        e["responseStatus"] = std::move(status);
    }
    const std::string id = jstr(e, "id");
    std::lock_guard lock(impl_->mu);
    auto& mb = impl_->ensure_user(user);
    auto& stored = mb.events[id];
    stored = impl::stored_event{};
    stored.data = std::move(e);
    stored.version = ++impl_->version;
    return id;
}

void fake_graph::update_event(const std::string& user, const std::string& id,
                              const std::string& patch_json) {
    const auto patch = parse_object(patch_json);
    if (!patch) throw std::invalid_argument("fake_graph::update_event: not a JSON object");
    std::lock_guard lock(impl_->mu);
    auto* mb = impl_->find_user(user);
    if (!mb || !impl_->change_event(*mb, id, *patch, false)) {
        throw std::invalid_argument("fake_graph::update_event: no event " + id + " for " + user);
    }
}

void fake_graph::remove_event(const std::string& user, const std::string& id) {
    std::lock_guard lock(impl_->mu);
    auto* mb = impl_->find_user(user);
    if (!mb || !impl_->change_event(*mb, id, json::object{}, true)) {
        throw std::invalid_argument("fake_graph::remove_event: no event " + id + " for " + user);
    }
}

std::optional<std::string> fake_graph::event(const std::string& user, const std::string& id) const {
    std::lock_guard lock(impl_->mu);
    const auto* mb = impl_->find_user(user);
    if (!mb) return std::nullopt;
    const auto e = impl_->lookup(*mb, id);
    if (!e) return std::nullopt;
    return json::serialize(*e);
}

void fake_graph::set_group(const std::string& group_id,
                           const std::vector<std::string>& member_addresses) {
    std::lock_guard lock(impl_->mu);
    impl_->groups[group_id] = member_addresses;
}

void fake_graph::fail_next(const std::string& path_contains, fault f, int times) {
    if (times <= 0) return;
    std::lock_guard lock(impl_->mu);
    impl_->faults.push_back({path_contains, std::move(f), times});
}

void fake_graph::expire_delta_tokens() {
    std::lock_guard lock(impl_->mu);
    impl_->skip_tokens.clear();
    impl_->delta_tokens.clear();
    ++impl_->generation;
}

void fake_graph::deny_user(const std::string& address) {
    std::lock_guard lock(impl_->mu);
    impl_->denied_users.insert(lower(address));
}

void fake_graph::revoke_tokens() {
    std::lock_guard lock(impl_->mu);
    impl_->tokens.clear();
}

std::vector<fake_graph::request_record> fake_graph::requests() const {
    std::lock_guard lock(impl_->mu);
    return impl_->log;
}

int fake_graph::max_in_flight_per_user() const {
    std::lock_guard lock(impl_->mu);
    return impl_->max_in_flight;
}

int fake_graph::tokens_issued() const {
    std::lock_guard lock(impl_->mu);
    return impl_->issued;
}

std::vector<fake_graph::response_call> fake_graph::responses() const {
    std::lock_guard lock(impl_->mu);
    return impl_->calls;
}

std::vector<fake_graph::subscription> fake_graph::subscriptions() const {
    std::lock_guard lock(impl_->mu);
    std::vector<subscription> out;
    for (const auto& s : impl_->subs) out.push_back(s.pub);
    return out;
}

void fake_graph::trust_for_notifications(const std::filesystem::path& ca_file) {
    std::lock_guard lock(impl_->mu);
    impl_->notification_ca = ca_file;
}

int fake_graph::notify(const std::string& user, const std::string& event_id) {
    std::vector<impl::delivery> ds;
    {
        std::lock_guard lock(impl_->mu);
        ds = impl_->notifications(user, event_id, "");
    }
    return impl_->deliver(ds);
}

int fake_graph::notify_lifecycle(const std::string& user, const std::string& event) {
    std::vector<impl::delivery> ds;
    {
        std::lock_guard lock(impl_->mu);
        ds = impl_->notifications(user, "", event);
    }
    return impl_->deliver(ds);
}

}  // namespace agendad::test_support
