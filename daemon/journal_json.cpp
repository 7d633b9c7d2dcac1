#include "daemon/journal_json.h"

#include <boost/json.hpp>

#include <sstream>

namespace agendad::daemon {
namespace {

boost::json::value text_or_null(const std::string& s) {
    return s.empty() ? boost::json::value(nullptr) : boost::json::value(s);
}

boost::json::value time_or_null(const std::optional<calendar::time_point>& t) {
    return t ? boost::json::value(calendar::format_utc(*t)) : boost::json::value(nullptr);
}

}  // namespace

boost::json::object to_json(const journal_entry& e) {
    boost::json::object o;
    o["id"] = e.id;
    o["mailbox"] = e.key.mailbox;
    o["uid"] = e.key.uid;
    o["recurrence_id"] = text_or_null(e.key.recurrence_id);
    o["sequence"] = e.key.sequence;
    o["phase"] = text_or_null(e.key.phase);
    o["item"] = e.item_id;
    o["subject"] = e.subject;
    o["organizer"] = e.organizer;
    o["start"] = calendar::format_utc(e.start);
    o["decided_at"] = calendar::format_utc(e.decided_at);
    o["finished_at"] = time_or_null(e.finished_at);
    o["rule"] = e.rule;
    o["action"] = e.action;
    o["send_response"] = e.send_response;
    o["reply"] = e.send_response ? text_or_null(e.reply) : boost::json::value(nullptr);
    o["reason"] = e.reason;
    boost::json::array signals;
    std::istringstream lines(e.signals);
    std::string line;
    while (std::getline(lines, line)) {
        const auto colon = line.find(": ");
        signals.push_back(boost::json::object{
            {"name", line.substr(0, colon)},
            {"evidence", colon == std::string::npos ? "" : line.substr(colon + 2)}});
    }
    o["signals"] = std::move(signals);
    o["mode"] = e.mode;
    o["state"] = std::string(name_of(e.state));
    o["error"] = text_or_null(e.error);
    o["deadline"] = time_or_null(e.deadline);
    return o;
}

}  // namespace agendad::daemon
