// Group entries of the configuration (`group:` with a Microsoft Graph source): listing an Entra
// group's user members through Graph, and deciding which mailboxes are watched with which
// entry's settings once the groups are known.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "calendar/graph/graph_client.h"
#include "calendar/graph/graph_json.h"
#include "calendar/source.h"
#include "config/daemon_config.h"

namespace agendad::daemon {

// The first request of a listing: every user among the group's members, nested groups
// included, with only the fields agendad reads.
std::string group_members_target(const std::string& group_id);

// Lists the user members of group `group_id` through `client` (GET
// /groups/{id}/transitiveMembers/microsoft.graph.user?$select=id,mail,userPrincipalName,
// following @odata.nextLink to the last page). Members come in Graph's order, each address
// once. A failure names the group and `source_name` ("source 'm365'") and says what to do:
// 403 — the app lacks GroupMember.Read.All (or User.Read.All) with admin consent; 404 — no
// such group in the tenant. Nothing is returned unless every page was read: a partial list
// would stop the workers of the members on the pages missed.
boost::asio::awaitable<calendar::source_result<std::vector<calendar::graph::member>>>
list_group_members(const std::shared_ptr<calendar::graph::graph_client>& client,
                   const std::string& group_id, const std::string& source_name);

// A mailbox to watch and where its settings come from.
struct watched_mailbox {
    config::mailbox_config mailbox;  // for a group member: the group entry, with its address
    int group = -1;                  // -1: an address entry; else its index in config.groups
};

// Every mailbox to watch, by address: the address entries, then the members of each group
// entry in the order of the configuration (`members[i]` is group i's last listing, nullopt
// while it has never been read). An address entry wins over a group; an earlier group entry
// over a later one. Member addresses are compared case-insensitively; those that are not
// e-mail addresses are left out.
std::map<std::string, watched_mailbox> wanted_mailboxes(
    const config::daemon_config& config,
    const std::vector<std::optional<std::vector<std::string>>>& members);

// What a new listing changes for one group: addresses that joined and that left.
struct membership_change {
    std::vector<std::string> joined;
    std::vector<std::string> left;
};
membership_change compare_members(const std::optional<std::vector<std::string>>& before,
                                  const std::vector<std::string>& after);

}  // namespace agendad::daemon
