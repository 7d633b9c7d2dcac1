// Tests for group entries (daemon/directory and the supervisor): listing an Entra group's
// members through Graph (pages, refusals, retries), which mailboxes are watched with which
// entry's settings, and the built agendad against the fake Graph: members watched at start,
// joiners and leavers followed at every refresh, a group that cannot be read retried while its
// mailboxes keep running, SIGHUP and SIGTERM as before.
#include "daemon/directory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "calendar/graph/graph_client.h"
#include "calendar/graph/oauth.h"
#include "calendar/http/http_client.h"
#include "cli_fixture.h"
#include "support/fake_graph.h"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace graph = agendad::calendar::graph;
using agendad::calendar::source_failure;
using agendad::calendar::source_result;
using agendad::daemon::compare_members;
using agendad::daemon::list_group_members;
using agendad::daemon::wanted_mailboxes;
using agendad::test_support::fake_graph;
using agendad::test_support::read_file;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

const std::string group_a = "1b2c3d4e-0000-4000-8000-00000000000a";
const std::string group_b = "1b2c3d4e-0000-4000-8000-00000000000b";

fake_graph::options small_pages() {
    fake_graph::options o;
    o.page_size = 3;  // so that 7 members take three pages
    return o;
}

// ---- list_group_members against the fake Graph ----

class group_listing : public ::testing::Test {
  protected:
    group_listing() : fake_(small_pages()) {
        graph::app_credentials creds;
        creds.authority = fake_.authority();
        creds.tenant = "contoso-tenant";
        creds.client_id = "11111111-2222-3333-4444-555555555555";
        creds.client_secret = "test-client-secret";
        agendad::calendar::http::tls_options tls;
        tls.ca_file = fake_.ca_file();
        auto http = std::make_shared<agendad::calendar::http::client>(io_.get_executor(), tls);
        auto tokens = std::make_shared<graph::token_provider>(http, creds, [] {
            return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        });
        graph::throttling limits;
        limits.first_backoff = 10ms;
        client_ = std::make_shared<graph::graph_client>(io_.get_executor(), http, tokens,
                                                        fake_.graph_url(), limits);
    }

    source_result<std::vector<graph::member>> list(const std::string& group) {
        std::optional<source_result<std::vector<graph::member>>> out;
        // The coroutine takes references and starts later: they must outlive io_.run_for().
        const std::string source_name = "source 'm365'";
        asio::co_spawn(io_, list_group_members(client_, group, source_name),
                       [&](std::exception_ptr e, source_result<std::vector<graph::member>> r) {
                           if (e) std::rethrow_exception(e);
                           out = std::move(r);
                       });
        io_.restart();
        io_.run_for(30s);
        if (!out) throw std::runtime_error("the listing did not finish");
        return std::move(*out);
    }

    std::vector<fake_graph::request_record> member_requests() const {
        std::vector<fake_graph::request_record> out;
        for (const auto& r : fake_.requests()) {
            if (r.target.find("/transitiveMembers/") != std::string::npos) out.push_back(r);
        }
        return out;
    }

    fake_graph fake_;
    asio::io_context io_;
    std::shared_ptr<graph::graph_client> client_;
};

std::vector<std::string> addresses_of(const std::vector<graph::member>& members) {
    std::vector<std::string> out;
    for (const auto& m : members) out.push_back(m.address);
    return out;
}

TEST_F(group_listing, reads_every_page_with_only_the_fields_it_needs) {
    std::vector<std::string> members;
    for (int i = 1; i <= 7; ++i) members.push_back("User" + std::to_string(i) + "@Contoso.example");
    fake_.set_group(group_a, members);
    const auto r = list(group_a);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_THAT(addresses_of(*r), ElementsAre("user1@contoso.example", "user2@contoso.example",
                                              "user3@contoso.example", "user4@contoso.example",
                                              "user5@contoso.example", "user6@contoso.example",
                                              "user7@contoso.example"));
    EXPECT_FALSE(r->front().id.empty()) << "the member's Graph id comes along";
    const auto requests = member_requests();
    ASSERT_EQ(requests.size(), 3u) << "three pages of three";
    EXPECT_EQ(requests[0].method, "GET");
    EXPECT_EQ(requests[0].target, "/v1.0/groups/" + group_a +
                                      "/transitiveMembers/microsoft.graph.user"
                                      "?$select=id,mail,userPrincipalName&$top=999");
    EXPECT_THAT(requests[1].target, HasSubstr("$skiptoken=")) << "the nextLink is followed";
}

TEST_F(group_listing, an_empty_group_has_no_members) {
    fake_.set_group(group_a, {});
    const auto r = list(group_a);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_THAT(*r, IsEmpty());
}

TEST_F(group_listing, a_member_listed_twice_counts_once) {
    fake_.set_group(group_a, {"a@contoso.example", "A@contoso.example", "b@contoso.example"});
    const auto r = list(group_a);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_THAT(addresses_of(*r), ElementsAre("a@contoso.example", "b@contoso.example"));
}

TEST_F(group_listing, an_unknown_group_is_gone_and_named) {
    const auto r = list(group_b);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::gone);
    EXPECT_THAT(r.error().message, HasSubstr("group " + group_b + " of source 'm365'"));
    EXPECT_THAT(r.error().message, HasSubstr("HTTP 404"));
    EXPECT_THAT(r.error().message, HasSubstr("no group with this object id in the tenant"));
}

TEST_F(group_listing, a_refusal_says_which_permission_is_missing) {
    fake_.set_group(group_a, {"a@contoso.example"});
    fake_graph::fault denied;
    denied.status = 403;
    denied.body =
        R"({"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges )"
        R"(to complete the operation."}})";
    fake_.fail_next("/transitiveMembers/", denied);
    const auto r = list(group_a);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied);
    EXPECT_THAT(r.error().message, HasSubstr("Authorization_RequestDenied"));
    EXPECT_THAT(r.error().message, HasSubstr("GroupMember.Read.All and User.Read.All"));
}

TEST_F(group_listing, a_page_that_fails_for_a_while_is_retried_not_cut_short) {
    std::vector<std::string> members;
    for (int i = 1; i <= 5; ++i) members.push_back("u" + std::to_string(i) + "@contoso.example");
    fake_.set_group(group_a, members);
    fake_graph::fault busy;
    busy.status = 503;
    busy.retry_after = 0s;
    fake_.fail_next("$skiptoken=", busy, 2);  // the second page, twice
    const auto r = list(group_a);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->size(), 5u);
}

TEST_F(group_listing, a_page_that_cannot_be_read_fails_the_whole_listing) {
    fake_.set_group(group_a, {"a@contoso.example", "b@contoso.example", "c@contoso.example",
                              "d@contoso.example"});
    fake_graph::fault broken;
    broken.status = 200;
    broken.body = "<html>proxy error</html>";
    fake_.fail_next("$skiptoken=", broken);
    const auto r = list(group_a);
    ASSERT_FALSE(r) << "a partial list would stop the members on the pages missed";
    EXPECT_EQ(r.error().kind, source_failure::invalid);
    EXPECT_THAT(r.error().message, HasSubstr("group " + group_a));
}

// ---- wanted_mailboxes and compare_members ----

agendad::config::mailbox_config entry(const std::string& address, const std::string& group,
                                      std::optional<agendad::config::mailbox_mode> mode) {
    agendad::config::mailbox_config m;
    m.address = address;
    m.group = group;
    m.source = "m365";
    m.org_domains = {"contoso.example"};
    m.mode = mode;
    return m;
}

TEST(wanted_mailboxes, address_entries_win_then_earlier_groups) {
    using agendad::config::mailbox_mode;
    agendad::config::daemon_config c;
    c.mailboxes = {entry("ceo@contoso.example", "", mailbox_mode::enforce)};
    c.groups = {entry("", group_a, mailbox_mode::dry_run), entry("", group_b, std::nullopt)};
    c.groups[1].max_declines_per_hour = 3;
    const auto wanted = wanted_mailboxes(
        c, {std::vector<std::string>{"CEO@contoso.example", "a@contoso.example", "not an address"},
            std::vector<std::string>{"a@contoso.example", "b@Contoso.Example"}});
    ASSERT_EQ(wanted.size(), 3u);
    EXPECT_EQ(wanted.at("ceo@contoso.example").group, -1);
    EXPECT_EQ(wanted.at("ceo@contoso.example").mailbox.mode, mailbox_mode::enforce);
    EXPECT_EQ(wanted.at("a@contoso.example").group, 0);
    EXPECT_EQ(wanted.at("a@contoso.example").mailbox.address, "a@contoso.example");
    EXPECT_EQ(wanted.at("a@contoso.example").mailbox.mode, mailbox_mode::dry_run);
    EXPECT_EQ(wanted.at("b@contoso.example").group, 1);
    EXPECT_EQ(wanted.at("b@contoso.example").mailbox.group, group_b);
    EXPECT_EQ(wanted.at("b@contoso.example").mailbox.max_declines_per_hour, 3);
}

TEST(wanted_mailboxes, a_group_never_listed_adds_nothing) {
    agendad::config::daemon_config c;
    c.mailboxes = {entry("ceo@contoso.example", "", std::nullopt)};
    c.groups = {entry("", group_a, std::nullopt)};
    const auto wanted = wanted_mailboxes(c, {std::nullopt});
    ASSERT_EQ(wanted.size(), 1u);
    EXPECT_TRUE(wanted.count("ceo@contoso.example"));
}

TEST(compare_members, names_who_joined_and_who_left) {
    const auto first = compare_members(std::nullopt, {"a@x.example", "b@x.example"});
    EXPECT_THAT(first.joined, ElementsAre("a@x.example", "b@x.example"));
    EXPECT_THAT(first.left, IsEmpty());
    const auto next = compare_members(std::vector<std::string>{"a@x.example", "b@x.example"},
                                      {"B@x.example", "c@x.example"});
    EXPECT_THAT(next.joined, ElementsAre("c@x.example"));
    EXPECT_THAT(next.left, ElementsAre("a@x.example"));
}

// ---- the built agendad: group entries in the supervisor ----

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) return true;
        std::this_thread::sleep_for(100ms);
    }
    return done();
}

class group_supervisor : public agendad::test_support::cli_fixture {
  protected:
    group_supervisor() : fake_(fake_graph::options{}) {}

    // A configuration with one Graph source (polling every second, groups listed every
    // second), an address entry for ceo@ and the group entries given.
    fs::path config(const std::vector<std::string>& groups,
                    const std::string& explicit_address = "ceo@contoso.example") {
        const fs::path secret = write("secrets/graph-secret", "test-client-secret\n");
        fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write,
                        fs::perm_options::replace);
        std::string yaml = "state_directory: " + (dir_ / "state").string() +
                           "\n"
                           "status: {listen: \"off\"}\n"
                           "sources:\n"
                           "  m365:\n"
                           "    kind: graph\n"
                           "    tenant: contoso-tenant\n"
                           "    client_id: 11111111-2222-3333-4444-555555555555\n"
                           "    client_secret_file: " +
                           secret.string() +
                           "\n"
                           "    authority: " +
                           fake_.authority() +
                           "\n"
                           "    graph_url: " +
                           fake_.graph_url() +
                           "\n"
                           "    ca_file: " +
                           fake_.ca_file().string() +
                           "\n"
                           "    poll_seconds: 1\n"
                           "    group_refresh_seconds: 1\n"
                           "mailboxes:\n";
        if (!explicit_address.empty()) {
            yaml += "  - {address: " + explicit_address +
                    ", source: m365, org_domains: [contoso.example]}\n";
        }
        for (const auto& g : groups) {
            yaml += "  - {group: " + g + ", source: m365, org_domains: [contoso.example]}\n";
        }
        return write("agendad.yaml", yaml);
    }

    // Calendar requests (not the group listing) for `user`.
    int calendar_requests(const std::string& user) const {
        int n = 0;
        for (const auto& r : fake_.requests()) {
            if (r.user == user && r.target.find("/users/") != std::string::npos) ++n;
        }
        return n;
    }

    void add_users(const std::vector<std::string>& users) {
        for (const auto& u : users) fake_.add_user(u);
    }

    fake_graph fake_;
};

TEST_F(group_supervisor, once_watches_the_members_and_the_address_entries) {
    add_users({"ceo@contoso.example", "a@contoso.example", "b@contoso.example"});
    fake_.set_group(group_a, {"a@contoso.example", "b@contoso.example", "ceo@contoso.example"});
    const auto r = run({"run", "--once", "--config", config({group_a}).string()});
    EXPECT_EQ(r.status, 0) << r.err;
    for (const std::string user :
         {"ceo@contoso.example", "a@contoso.example", "b@contoso.example"}) {
        EXPECT_GT(calendar_requests(user), 0) << user << "\n" << r.err;
    }
    EXPECT_THAT(r.err, HasSubstr("group members"));
    EXPECT_THAT(r.err, HasSubstr("members=3"));
}

TEST_F(group_supervisor, once_fails_when_a_group_cannot_be_read_but_runs_the_others) {
    add_users({"ceo@contoso.example"});
    const auto r = run({"run", "--once", "--config", config({group_b}).string()});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("cannot read group"));
    EXPECT_THAT(r.err, HasSubstr(group_b));
    EXPECT_THAT(r.err, HasSubstr("no group with this object id"));
    EXPECT_GT(calendar_requests("ceo@contoso.example"), 0) << r.err;
}

TEST_F(group_supervisor, follows_joiners_and_leavers_and_stops_cleanly) {
    add_users(
        {"ceo@contoso.example", "a@contoso.example", "b@contoso.example", "c@contoso.example"});
    fake_.set_group(group_a, {"a@contoso.example", "b@contoso.example"});
    auto d = start({"run", "--config", config({group_a}).string()});
    ASSERT_TRUE(eventually(
        [&] {
            return calendar_requests("a@contoso.example") > 0 &&
                   calendar_requests("b@contoso.example") > 0 &&
                   calendar_requests("ceo@contoso.example") > 0;
        },
        20s))
        << read_file(d.err);
    EXPECT_EQ(calendar_requests("c@contoso.example"), 0);

    // a leaves, c joins.
    fake_.set_group(group_a, {"b@contoso.example", "c@contoso.example"});
    ASSERT_TRUE(eventually([&] { return calendar_requests("c@contoso.example") > 0; }, 20s))
        << read_file(d.err);
    ASSERT_TRUE(eventually(
        [&] { return read_file(d.err).find("mailbox no longer watched") != std::string::npos; },
        10s))
        << read_file(d.err);
    std::this_thread::sleep_for(1500ms);  // the pass under way may end
    const int a_then = calendar_requests("a@contoso.example");
    const int b_then = calendar_requests("b@contoso.example");
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(calendar_requests("a@contoso.example"), a_then) << "a is no longer watched";
    EXPECT_GT(calendar_requests("b@contoso.example"), b_then) << "b still is";

    ::kill(d.pid, SIGTERM);
    const auto r = wait(d);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("mailbox=a@contoso.example"));
    EXPECT_THAT(r.err, HasSubstr("watching mailbox"));
}

TEST_F(group_supervisor, a_group_that_cannot_be_read_is_retried_while_the_rest_runs) {
    add_users({"ceo@contoso.example", "a@contoso.example"});
    auto d = start({"run", "--config", config({group_b}).string()});
    ASSERT_TRUE(eventually(
        [&] { return read_file(d.err).find("cannot read group") != std::string::npos; }, 20s))
        << read_file(d.err);
    ASSERT_TRUE(eventually([&] { return calendar_requests("ceo@contoso.example") > 1; }, 20s))
        << read_file(d.err);
    // The group appears (the admin fixed the id or the permission): its member is watched.
    fake_.set_group(group_b, {"a@contoso.example"});
    ASSERT_TRUE(eventually([&] { return calendar_requests("a@contoso.example") > 0; }, 20s))
        << read_file(d.err);
    ::kill(d.pid, SIGTERM);
    const auto r = wait(d);
    EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(group_supervisor, a_failed_listing_keeps_the_members_already_watched) {
    add_users({"ceo@contoso.example", "a@contoso.example"});
    fake_.set_group(group_a, {"a@contoso.example"});
    auto d = start({"run", "--config", config({group_a}).string()});
    ASSERT_TRUE(eventually([&] { return calendar_requests("a@contoso.example") > 0; }, 20s))
        << read_file(d.err);
    fake_graph::fault denied;
    denied.status = 403;
    fake_.fail_next("/transitiveMembers/", denied, 3);
    ASSERT_TRUE(eventually(
        [&] { return read_file(d.err).find("cannot read group") != std::string::npos; }, 20s))
        << read_file(d.err);
    const int before = calendar_requests("a@contoso.example");
    ASSERT_TRUE(
        eventually([&] { return calendar_requests("a@contoso.example") > before + 1; }, 20s))
        << "a keeps being watched\n"
        << read_file(d.err);
    EXPECT_EQ(read_file(d.err).find("mailbox no longer watched"), std::string::npos)
        << read_file(d.err);
    ::kill(d.pid, SIGTERM);
    EXPECT_EQ(wait(d).status, 0);
}

TEST_F(group_supervisor, an_address_entry_wins_and_a_reload_applies_a_new_group_list) {
    add_users({"ceo@contoso.example", "a@contoso.example", "b@contoso.example"});
    fake_.set_group(group_a, {"ceo@contoso.example", "a@contoso.example"});
    fake_.set_group(group_b, {"b@contoso.example"});
    const fs::path cfg = config({group_a});
    auto d = start({"run", "--config", cfg.string()});
    ASSERT_TRUE(eventually([&] { return calendar_requests("a@contoso.example") > 0; }, 20s))
        << read_file(d.err);
    EXPECT_EQ(read_file(d.err).find("mailbox=ceo@contoso.example as=\"member"), std::string::npos)
        << "ceo@ is an address entry, not a member";

    config({group_b});  // group_a out, group_b in
    ::kill(d.pid, SIGHUP);
    ASSERT_TRUE(eventually([&] { return calendar_requests("b@contoso.example") > 0; }, 20s))
        << read_file(d.err);
    std::this_thread::sleep_for(2s);
    const int a_then = calendar_requests("a@contoso.example");
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(calendar_requests("a@contoso.example"), a_then) << read_file(d.err);
    ::kill(d.pid, SIGTERM);
    EXPECT_EQ(wait(d).status, 0);
}

}  // namespace
