#include "daemon/directory.h"

#include <set>

#include "calendar/invitation.h"

namespace agendad::daemon {

namespace graph = calendar::graph;

namespace {

// Guards against a server that keeps handing out next links: 999 members a page, so this is
// about five million members.
constexpr int max_pages = 5000;

// What an administrator does about a refused listing.
std::string advice(int status) {
    if (status == 403) {
        return " (the app needs the application permissions GroupMember.Read.All and "
               "User.Read.All, with admin consent, to list a group's members)";
    }
    if (status == 404) {
        return " (no group with this object id in the tenant: check the id in the Entra admin "
               "center, Groups → the group → Object ID)";
    }
    return {};
}

}  // namespace

std::string group_members_target(const std::string& group_id) {
    // The id is a GUID (the configuration checks it): nothing to encode.
    return "/groups/" + group_id +
           "/transitiveMembers/microsoft.graph.user?$select=id,mail,userPrincipalName&$top=999";
}

boost::asio::awaitable<calendar::source_result<std::vector<graph::member>>> list_group_members(
    const std::shared_ptr<graph::graph_client>& client, const std::string& group_id,
    const std::string& source_name) {
    const std::shared_ptr<graph::graph_client> keep = client;
    const std::string doing = "group " + group_id + " of " + source_name + ": listing members";
    // Throttling per mailbox does not apply to the directory; the group stands in for one.
    const std::string throttle_key = "group:" + group_id;
    std::vector<graph::member> out;
    std::set<std::string> seen;
    std::string target = group_members_target(group_id);
    for (int page = 0; !target.empty(); ++page) {
        if (page == max_pages) {
            co_return calendar::source_error{
                calendar::source_failure::invalid,
                doing + ": more than " + std::to_string(max_pages) + " pages; giving up"};
        }
        const auto answer = co_await keep->send(throttle_key, "GET", target, "", doing);
        if (!answer) co_return answer.error();
        if (answer->status < 200 || answer->status > 299) {
            calendar::source_error e = graph::graph_failure(*answer, doing);
            e.message += advice(answer->status);
            co_return e;
        }
        std::string error;
        auto parsed = graph::parse_member_page(answer->body, error);
        if (!parsed) {
            co_return calendar::source_error{calendar::source_failure::invalid,
                                             doing + ": " + error};
        }
        for (auto& m : parsed->members) {
            if (seen.insert(m.address).second) out.push_back(std::move(m));
        }
        target = std::move(parsed->next_link);
    }
    co_return out;
}

std::map<std::string, watched_mailbox> wanted_mailboxes(
    const config::daemon_config& config,
    const std::vector<std::optional<std::vector<std::string>>>& members) {
    std::map<std::string, watched_mailbox> out;
    for (const auto& m : config.mailboxes) out.emplace(m.address, watched_mailbox{m, -1});
    for (std::size_t i = 0; i < config.groups.size() && i < members.size(); ++i) {
        if (!members[i]) continue;
        for (const auto& written : *members[i]) {
            const std::string address = calendar::normalize_address(written);
            const auto at = address.find('@');
            if (at == std::string::npos || at == 0 || at + 1 == address.size() ||
                address.find_first_of(" \t\r\n") != std::string::npos) {
                continue;
            }
            if (out.count(address)) continue;  // an address entry or an earlier group has it
            watched_mailbox w{config.groups[i], static_cast<int>(i)};
            w.mailbox.address = address;
            out.emplace(address, std::move(w));
        }
    }
    return out;
}

membership_change compare_members(const std::optional<std::vector<std::string>>& before,
                                  const std::vector<std::string>& after) {
    membership_change out;
    std::set<std::string> old_set;
    if (before) {
        for (const auto& a : *before) old_set.insert(calendar::normalize_address(a));
    }
    std::set<std::string> new_set;
    for (const auto& a : after) new_set.insert(calendar::normalize_address(a));
    for (const auto& a : new_set) {
        if (!old_set.count(a)) out.joined.push_back(a);
    }
    for (const auto& a : old_set) {
        if (!new_set.count(a)) out.left.push_back(a);
    }
    return out;
}

}  // namespace agendad::daemon
