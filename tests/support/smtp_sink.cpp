#include "support/smtp_sink.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/files.h"
#include "support/process.h"
#include "support/test_ca.h"

namespace agendad::test_support {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Run by /usr/bin/python3 (a pyenv python3 on PATH would not see Debian's modules) with the path
// of a JSON config. It listens on 127.0.0.1 (the given port, or a free one), writes the port into
// the "ready" file once it serves, and runs until SIGTERM. Every accepted message goes into the
// inbox as N.eml (the content as received, dot-stuffing undone) and N.envelope (from, tls=,
// auth=, then one recipient per line), .eml last so that its presence means complete. The control
// file, read per command, holds "rcpt CODE TEXT", "data CODE TEXT" or "hangup".
constexpr const char* sink_script = R"PY(
import json, os, signal, socket, ssl, sys

with open(sys.argv[1]) as f:
    config = json.load(f)
try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError as e:
    print("NO_AIOSMTPD %s" % e, file=sys.stderr, flush=True)
    sys.exit(3)
if config["verbose"]:
    import logging
    logging.basicConfig(level=logging.DEBUG)

inbox = config["inbox"]

def control(stage):
    try:
        with open(config["control"]) as f:
            words = f.read().split(None, 2)
    except FileNotFoundError:
        return None
    if words and words[0] == stage:
        return words
    return None

def refusal(stage):
    words = control(stage)
    if words is None or len(words) < 2:
        return None
    return " ".join(words[1:])

def last_number():
    n = 0
    for name in os.listdir(inbox):
        if name.endswith(".eml") and name[:-4].isdigit():
            n = max(n, int(name[:-4]))
    return n

class Handler:
    def __init__(self):
        self.count = last_number()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refused = refusal("rcpt")
        if refused:
            return refused
        if address == config["reject"]:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        refused = refusal("data")
        if refused:
            return refused
        if config["busy"] in envelope.rcpt_tos:
            return "451 4.3.0 mailbox busy, try again later"
        self.count += 1
        base = os.path.join(inbox, str(self.count))
        login = session.auth_data.login.decode() if session.auth_data else ""
        secure = server.transport.get_extra_info("ssl_object") is not None
        with open(base + ".envelope", "w") as f:
            f.write((envelope.mail_from or "") + "\n")
            f.write("tls=%d\n" % secure)
            f.write("auth=%s\n" % login)
            for rcpt in envelope.rcpt_tos:
                f.write(rcpt + "\n")
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        if control("hangup") is not None:
            # Stored, and the 250 is never sent: abort() drops what is written after it.
            server.transport.abort()
        return "250 2.0.0 OK queued as %d" % self.count

users = config["users"]

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = False
    if isinstance(auth_data, LoginPassword):
        expected = users.get(auth_data.login.decode("utf-8", "replace"))
        ok = expected is not None and auth_data.password == expected.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

kwargs = dict(server_hostname="localhost", ready_timeout=10)
if config["tls"] != "none":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config["cert"], config["key"])
    if config["tls"] == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    else:
        kwargs.update(ssl_context=context)
if users:
    kwargs.update(authenticator=authenticator, auth_required=True,
                  auth_require_tls=config["auth_require_tls"])
    if config["login_only"]:
        kwargs.update(auth_exclude_mechanism=["PLAIN"])

def free_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port

last = None
for attempt in range(20 if config["port"] == 0 else 1):
    port = config["port"] or free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    try:
        controller.start()
        break
    except Exception as e:
        last = e
else:
    print("ERROR cannot listen: %s" % last, file=sys.stderr, flush=True)
    sys.exit(4)

def on_term(signum, frame):
    raise SystemExit(0)

signal.signal(signal.SIGTERM, on_term)
with open(config["ready"] + ".tmp", "w") as f:
    f.write("%d\n" % port)
os.rename(config["ready"] + ".tmp", config["ready"])
try:
    while True:
        signal.pause()
finally:
    controller.stop()
)PY";

std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
        const auto b = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (b < 0x20) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\u00";
            out += hex[b >> 4];
            out += hex[b & 0xF];
        } else {
            out += c;  // UTF-8 passes through
        }
    }
    return out + "\"";
}

const char* tls_name(smtp_sink_tls mode) {
    switch (mode) {
        case smtp_sink_tls::starttls:
            return "starttls";
        case smtp_sink_tls::implicit:
            return "implicit";
        case smtp_sink_tls::none:
            break;
    }
    return "none";
}

std::string tail(const std::string& text, std::size_t bytes = 6000) {
    return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

}  // namespace

struct smtp_sink::impl {
    smtp_sink_options options;
    temp_folder folder{"agendad-smtp-sink"};
    std::unique_ptr<test_ca> own_ca;
    fs::path ca_file;
    std::uint16_t port = 0;
    std::optional<child_process> process;
    pid_t last_pid = -1;

    fs::path inbox() const { return folder.path() / "inbox"; }
    fs::path log_file() const { return folder.path() / "smtpd.log"; }
    fs::path ready_file() const { return folder.path() / "ready"; }
    fs::path control_file() const { return folder.path() / "control"; }

    std::string log() const { return read_file(log_file()); }

    std::uintmax_t echoed = 0;  // how much of the log went to stderr (AGENDAD_TEST_VERBOSE)
    void echo_log() { echo_log_if_verbose(log_file(), echoed, "[aiosmtpd]"); }

    void write_config() const {
        std::ostringstream users;
        for (const auto& [name, password] : options.users) {
            users << (users.tellp() > 0 ? ", " : "") << json_string(name) << ": "
                  << json_string(password);
        }
        const bool tls = options.tls != smtp_sink_tls::none;
        std::ostringstream config;
        config << "{\n"
               << "\"inbox\": " << json_string(inbox().string()) << ",\n"
               << "\"control\": " << json_string(control_file().string()) << ",\n"
               << "\"ready\": " << json_string(ready_file().string()) << ",\n"
               << "\"port\": " << port << ",\n"
               << "\"tls\": \"" << tls_name(options.tls) << "\",\n"
               << "\"cert\": " << json_string(tls ? (folder.path() / "server.pem").string() : "")
               << ",\n"
               << "\"key\": " << json_string(tls ? (folder.path() / "server.key").string() : "")
               << ",\n"
               << "\"users\": {" << users.str() << "},\n"
               << "\"login_only\": " << (options.login_only ? "true" : "false") << ",\n"
               << "\"auth_require_tls\": " << (options.auth_require_tls ? "true" : "false") << ",\n"
               << "\"reject\": " << json_string(options.reject_address) << ",\n"
               << "\"busy\": " << json_string(options.busy_address) << ",\n"
               << "\"verbose\": " << (test_verbose() ? "true" : "false") << "\n"
               << "}\n";
        write_file_atomically(folder.path() / "smtpd.json", config.str());
    }
};

smtp_sink::smtp_sink(smtp_sink_options options) : impl_(std::make_unique<impl>()) {
    impl_->options = std::move(options);
    impl_->port = impl_->options.port;
    fs::create_directories(impl_->inbox());
    write_file_atomically(impl_->folder.path() / "smtpd.py", sink_script);
    if (impl_->options.tls != smtp_sink_tls::none) {
        const test_ca* ca = impl_->options.ca;
        if (ca == nullptr) {
            impl_->own_ca = std::make_unique<test_ca>("agendad SMTP sink test CA");
            ca = impl_->own_ca.get();
        }
        impl_->ca_file = ca->write_loopback_server_files(impl_->folder.path());
    }
}

smtp_sink::~smtp_sink() {
    try {
        stop();
    } catch (...) {
        // child_process reaps in any case.
    }
}

void smtp_sink::start() {
    if (running()) return;
    auto& d = *impl_;
    std::error_code ignored;
    fs::remove(d.ready_file(), ignored);
    d.write_config();
    std::size_t offset = 0;
    if (const auto size = fs::file_size(d.log_file(), ignored); !ignored) {
        offset = static_cast<std::size_t>(size);
    }
    d.process.emplace(
        std::vector<std::string>{"/usr/bin/python3", (d.folder.path() / "smtpd.py").string(),
                                 (d.folder.path() / "smtpd.json").string()},
        d.log_file(), std::vector<std::string>{"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"});
    d.last_pid = d.process->pid();
    const auto deadline = std::chrono::steady_clock::now() + d.options.start_timeout;
    std::string why;
    for (;;) {
        if (fs::exists(d.ready_file())) {
            const std::string text = read_file(d.ready_file());
            const int port = std::atoi(text.c_str());
            if (port > 0 && port < 65536) {
                d.port = static_cast<std::uint16_t>(port);
                return;
            }
            why = "a bad ready file: " + text;
            break;
        }
        if (!d.process->running()) {
            why = "aiosmtpd " + d.process->status() + " while starting";
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            why = "aiosmtpd did not listen within " +
                  std::to_string(d.options.start_timeout.count()) + " ms";
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    d.process->stop(1s);
    d.echo_log();
    const std::string log = d.log();
    const std::string this_run = offset < log.size() ? log.substr(offset) : log;
    std::string hint;
    if (this_run.find("NO_AIOSMTPD") != std::string::npos) {
        hint = " (/usr/bin/python3 cannot import aiosmtpd: apt-get install python3-aiosmtpd)";
    }
    throw std::runtime_error("smtp_sink: cannot start aiosmtpd" + hint + ": " + why +
                             "\n--- aiosmtpd's output ---\n" + tail(this_run));
}

void smtp_sink::stop() {
    if (impl_->process) impl_->process->stop();
    impl_->echo_log();
}

void smtp_sink::kill() {
    if (impl_->process) impl_->process->kill();
    impl_->echo_log();
}

bool smtp_sink::running() {
    return impl_->process && impl_->process->running();
}

pid_t smtp_sink::pid() const {
    return impl_->last_pid;
}

std::uint16_t smtp_sink::port() const {
    return impl_->port;
}

const fs::path& smtp_sink::ca_file() const {
    return impl_->ca_file;
}

const fs::path& smtp_sink::folder() const {
    return impl_->folder.path();
}

std::string smtp_sink::log() const {
    return impl_->log();
}

std::vector<received_mail> smtp_sink::messages() const {
    std::vector<received_mail> out;
    for (int n = 1;; ++n) {
        const fs::path base = impl_->inbox() / std::to_string(n);
        if (!fs::exists(base.string() + ".eml")) break;
        std::ifstream envelope(base.string() + ".envelope");
        received_mail m;
        std::string line;
        std::getline(envelope, m.from);
        std::getline(envelope, line);
        m.tls = line == "tls=1";
        std::getline(envelope, line);
        m.auth = line.rfind("auth=", 0) == 0 ? line.substr(5) : line;
        while (std::getline(envelope, line)) {
            if (!line.empty()) m.recipients.push_back(line);
        }
        m.content = read_file(base.string() + ".eml");
        out.push_back(std::move(m));
    }
    return out;
}

bool smtp_sink::wait_for(std::size_t count, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (count == 0) return true;
    for (;;) {
        // Numbers are given in order and .eml is written last: N.eml means N messages.
        if (fs::exists(impl_->inbox() / (std::to_string(count) + ".eml"))) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
}

void smtp_sink::refuse(smtp_stage stage, int code, const std::string& text) {
    if (code < 400 || code > 599) {
        throw std::invalid_argument("smtp_sink::refuse: a 4xx or 5xx code, not " +
                                    std::to_string(code));
    }
    if (text.find_first_of("\r\n") != std::string::npos) {
        throw std::invalid_argument("smtp_sink::refuse: a one-line text");
    }
    std::string reply = text;
    if (reply.empty()) {
        reply = code < 500 ? "4.3.0 refused for now (smtp_sink)" : "5.7.1 refused (smtp_sink)";
    }
    write_file_atomically(impl_->control_file(),
                          std::string(stage == smtp_stage::rcpt ? "rcpt" : "data") + " " +
                              std::to_string(code) + " " + reply + "\n");
}

void smtp_sink::hang_up_after_data() {
    write_file_atomically(impl_->control_file(), "hangup\n");
}

void smtp_sink::accept() {
    std::error_code ignored;
    fs::remove(impl_->control_file(), ignored);
}

}  // namespace agendad::test_support
