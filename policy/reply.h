// Reply templates: the text sent to an organizer, with placeholders filled from the invitation.
// Pure: no clock, no I/O; the same text explain shows is the text the daemon sends.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "calendar/invitation.h"

namespace agendad::policy {

// The placeholders a template may use, e.g. "organizer_first_name" for {organizer_first_name}.
std::span<const std::string_view> reply_placeholders();

struct template_problem {
    std::size_t offset = 0;  // byte offset in the template text
    std::string message;
};
// Checks braces and placeholder names; "{{" and "}}" are literal braces.
std::optional<template_problem> check_reply_template(std::string_view text);

// Fills a template. `mailbox` names the owner when the invitation does not carry their name.
std::string render_reply(std::string_view text, const calendar::invitation& inv,
                         std::string_view mailbox);

// Pieces used by render_reply, exposed for tests and explain.
std::string first_name(std::string_view display_name);    // "Dalton, Chris" → "Chris"
std::string name_from_address(std::string_view address);  // "dana.whitfield@x" → "Dana Whitfield"
std::string format_local_start(
    const calendar::invitation& inv, bool date,
    bool time);  // "Tuesday 24 November 2026, 10:00 (Pacific Standard Time)"

}  // namespace agendad::policy
