#include "calendar/folder/folder_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "calendar/ical/itip.h"
#include "calendar/ical/parse.h"

namespace agendad::calendar {
namespace {

namespace fs = std::filesystem;

source_error failure(source_failure kind, std::string message) {
    return source_error{kind, std::move(message)};
}

// A file's version: modification time and size, as a CalDAV server's ETag would change.
std::string etag_of(const fs::path& p, std::error_code& ec) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
        ec = std::error_code(errno, std::generic_category());
        return {};
    }
    return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "-" +
           std::to_string(st.st_size);
}

std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

std::string_view status_word(partstat s) {
    switch (s) {
        case partstat::accepted:
            return "accepted";
        case partstat::declined:
            return "declined";
        case partstat::tentative:
            return "tentative";
        case partstat::needs_action:
            return "needs-action";
        default:
            return "other";
    }
}

// Writes `text` to `target` so that it appears whole or not at all: a temporary file in the same
// folder, fsync, then rename.
std::error_code write_atomically(const fs::path& target, std::string_view text) {
    const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".tmp");
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return {errno, std::generic_category()};
    std::size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0) {
            if (errno == EINTR) continue;
            const std::error_code ec(errno, std::generic_category());
            ::close(fd);
            ::unlink(tmp.c_str());
            return ec;
        }
        written += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const std::error_code ec(errno, std::generic_category());
        ::unlink(tmp.c_str());
        return ec;
    }
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
        const std::error_code ec(errno, std::generic_category());
        ::unlink(tmp.c_str());
        return ec;
    }
    // The rename itself must survive a crash too.
    if (const int dir = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    return {};
}

}  // namespace

folder_source::folder_source(fs::path folder, fs::path outbox, std::string mailbox)
    : folder_(std::move(folder)),
      outbox_(std::move(outbox)),
      mailbox_(normalize_address(mailbox)) {}

fs::path folder_source::reply_path(const invitation& inv, partstat status,
                                   const std::string& tag) const {
    // Named after the decision's key, readable, and unique even when the UID is not file-safe.
    std::string safe;
    for (char c : inv.uid.substr(0, 80)) {
        const bool ok =
            std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        safe += ok ? c : '_';
    }
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx",
                  static_cast<unsigned long long>(fnv1a(
                      inv.uid + "\n" + (inv.recurrence_id ? format_utc(*inv.recurrence_id) : ""))));
    std::string name = safe + "-" + hash + "-seq" + std::to_string(inv.sequence) + "-" +
                       std::string(status_word(status)) + (tag.empty() ? "" : "-" + tag) + ".ics";
    return outbox_ / name;
}

boost::asio::awaitable<source_result<sync_result>> folder_source::sync(const std::string& token) {
    (void)token;  // a folder is always listed whole
    sync_result out;
    out.full = true;
    std::error_code ec;
    if (!fs::is_directory(folder_, ec)) {
        co_return failure(source_failure::invalid, folder_.string() + " is not a readable folder");
    }
    std::map<std::string, cached> next;
    for (auto it = fs::recursive_directory_iterator(
             folder_, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        std::string ext = it->path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (ext != ".ics") continue;
        const std::string id = fs::relative(it->path(), folder_, ec).generic_string();
        std::error_code stat_error;
        const std::string etag = etag_of(it->path(), stat_error);
        if (stat_error) continue;  // vanished while we looked: the next pass sees it gone
        if (auto old = cache_.find(id); old != cache_.end() && old->second.etag == etag) {
            next.emplace(id, old->second);
            continue;
        }
        source_item item;
        item.item_id = id;
        item.etag = etag;
        auto parsed = parse_ics_file(it->path(), parse_options{mailbox_});
        if (!parsed) {
            item.problems.push_back(parsed.error());
        } else {
            item.events = std::move(parsed->events);
            item.problems = std::move(parsed->errors);
            for (auto& e : item.events) e.source.item_id = id, e.source.change_key = etag;
        }
        next.emplace(id, cached{etag, std::move(item)});
    }
    if (ec)
        co_return failure(source_failure::transient,
                          "reading " + folder_.string() + ": " + ec.message());
    cache_ = std::move(next);
    for (const auto& [id, c] : cache_) out.items.push_back(c.item);
    out.token = std::to_string(cache_.size());
    co_return out;
}

boost::asio::awaitable<source_result<void>> folder_source::respond(const std::string& item_id,
                                                                   const std::string& etag,
                                                                   const invitation& inv,
                                                                   const response& r) {
    (void)etag;  // a folder object is never written: there is no version to check
    // A folder calendar is never written to; the owner's answer lives in the journal. Only a reply
    // that is sent leaves a trace: the iTIP REPLY in the outbox.
    if (!r.send) co_return boost::system::result<void, source_error>();
    std::error_code ec;
    fs::create_directories(outbox_, ec);
    if (ec)
        co_return failure(source_failure::transient,
                          "cannot create the outbox " + outbox_.string() + ": " + ec.message());
    const fs::path target = reply_path(inv, r.status, r.tag);
    if (fs::exists(target, ec))
        co_return boost::system::result<void, source_error>();  // already out
    reply_options options;
    options.owner_address = mailbox_;
    options.owner_name = r.owner_name;
    options.status = r.status;
    options.comment = r.comment;
    options.now = r.now;
    const std::string text = build_reply(inv, options);
    if (auto written = write_atomically(target, text)) {
        co_return failure(source_failure::transient, "cannot write " + target.string() + " for " +
                                                         item_id + ": " + written.message());
    }
    co_return boost::system::result<void, source_error>();
}

boost::asio::awaitable<source_result<applied_state>> folder_source::state(
    const std::string& item_id, const invitation& inv, const response& r) {
    applied_state out;
    std::error_code ec;
    out.item_exists = fs::exists(folder_ / item_id, ec);
    out.owner_status = inv.owner ? inv.owner->partstat : partstat::none;
    // The folder is never written; a response exists as its reply in the outbox (a silent one
    // leaves no trace, and doing it again changes nothing).
    out.applied = !r.send || fs::exists(reply_path(inv, r.status, r.tag), ec);
    co_return out;
}

}  // namespace agendad::calendar
