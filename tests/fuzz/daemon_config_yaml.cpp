// The daemon's configuration (config/daemon_config.h load_daemon_config_text), as `agendad
// check` and `agendad run` load /etc/agendad/agendad.yaml. Relative paths resolve in a scratch
// folder made for this process, which holds a policy file (policy.d/board.yaml) and a secret
// (secrets/password, mode 600) under the names the seeds use, so that inputs reach past "no
// such file".
//
// Invariants: no exception escapes; a configuration is given exactly when there is no error;
// every diagnostic says what is wrong; a loaded configuration's mailboxes name a source and a
// policy it has, with normalised (lower-case) addresses.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "config/daemon_config.h"
#include "config/policy_loader.h"
#include "fuzz_support.h"

namespace {

using namespace agendad;
using fuzz::require;
namespace fs = std::filesystem;

class scratch_folder {
  public:
    scratch_folder()
        : path_(fs::temp_directory_path() / ("agendad-fuzz-config-" + std::to_string(::getpid()))) {
        fs::create_directories(path_ / "policy.d");
        fs::create_directories(path_ / "secrets");
        std::ofstream(path_ / "policy.d" / "board.yaml")
            << config::builtin_executive_policy_text();
        std::ofstream(path_ / "secrets" / "password") << "not-a-real-password\n";
        fs::permissions(path_ / "secrets" / "password",
                        fs::perms::owner_read | fs::perms::owner_write);
    }
    ~scratch_folder() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    scratch_folder(const scratch_folder&) = delete;
    scratch_folder& operator=(const scratch_folder&) = delete;
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

const fs::path& base_dir() {
    static const scratch_folder folder;
    return folder.path();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view yaml(reinterpret_cast<const char*>(data), size);
    const config::daemon_config_load loaded =
        config::load_daemon_config_text(yaml, "agendad.yaml", base_dir());
    require(loaded.ok() == loaded.config.has_value(), "load_daemon_config_text: a config with errors");
    require(!loaded.errors.empty() || loaded.config, "load_daemon_config_text: nothing and no error");
    for (const auto* list : {&loaded.errors, &loaded.warnings}) {
        for (const diagnostic& d : *list) {
            require(!d.message.empty(), "load_daemon_config_text: a diagnostic without a message");
            require(!d.file.empty(), "load_daemon_config_text: a diagnostic without a file");
        }
    }
    if (!loaded.config) return 0;
    const config::daemon_config& c = *loaded.config;
    for (const auto* list : {&c.mailboxes, &c.groups}) {
        for (const auto& m : *list) {
            require(c.sources.count(m.source) == 1, "load_daemon_config_text: an unknown source",
                    m.source);
            require(c.policies.count(m.policy) == 1,
                    "load_daemon_config_text: an unknown policy", m.policy);
            require(m.address == calendar::encoding::lower(m.address),
                    "load_daemon_config_text: an address not in lower case", m.address);
        }
    }
    return 0;
}
