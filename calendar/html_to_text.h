// Turns meeting-invitation HTML (Outlook/Word HTML, Google Calendar, Graph event bodies) into
// the plain text a person would read. Pure and linear-time; it never fetches anything.
#pragma once

#include <string>
#include <string_view>

namespace agendad::calendar {

// True when `text` looks like HTML markup rather than plain text (has tags such as <br>, <p>,
// <div>, <b>, <ul>, <li>, <a href, <html>, <span>, <table> — case-insensitive). Plain text that
// merely contains "<https://...>" (Outlook's link rendering) or "a < b" is NOT HTML.
bool looks_like_html(std::string_view text);

// Converts HTML to plain text.
std::string html_to_text(std::string_view html);

}  // namespace agendad::calendar
