// Tests for calendar/html_to_text: the HTML-to-plain-text rendering that policies match on, so
// every expectation is exact text.

#include "calendar/html_to_text.h"
#include "calendar/encoding.h"
#include "support/files.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::calendar {
namespace {

// ---------------------------------------------------------------------------------------------
// Helpers

// The corpus keeps mail parts as sent: quoted-printable, so decode the way a MIME reader would.
std::string decode_quoted_printable(std::string_view in) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const bool escape = in[i] == '=' && i + 1 < in.size();
        if (escape && in[i + 1] == '\n') {
            ++i;  // soft line break
        } else if (escape && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
            out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
            i += 2;
        } else {
            out += in[i];
        }
    }
    return out;
}

std::string latin1_to_utf8(std::string_view in) {
    std::string out;
    for (char c : in) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x80) {
            out += c;
        } else {
            out += static_cast<char>(0xC0 | (byte >> 6));
            out += static_cast<char>(0x80 | (byte & 0x3F));
        }
    }
    return out;
}

using agendad::calendar::encoding::append_utf8;

// Reads the JSON string literal whose opening quote is at `at`; just enough JSON for the Graph
// examples' "content" values.
std::string read_json_string(std::string_view json, std::size_t at) {
    std::string out;
    auto hex4 = [&](std::size_t from) {
        std::uint32_t value = 0;
        for (std::size_t k = from; k < from + 4 && k < json.size(); ++k) {
            const char c = json[k];
            value =
                value * 16 + static_cast<std::uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        return value;
    };
    for (std::size_t i = at + 1; i < json.size() && json[i] != '"'; ++i) {
        if (json[i] != '\\' || i + 1 >= json.size()) {
            out += json[i];
            continue;
        }
        const char escaped = json[++i];
        switch (escaped) {
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'u': {
                std::uint32_t cp = hex4(i + 1);
                i += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && json.substr(i + 1, 2) == "\\u") {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(i + 3) - 0xDC00);
                    i += 6;
                }
                append_utf8(out, cp);
                break;
            }
            default:
                out += escaped;
                break;  // \" \\ \/
        }
    }
    return out;
}

std::filesystem::path shared_dir() {
    return AGENDAD_SHARED_DIR;
}

using agendad::test_support::read_file;

// The output contract that holds for every input.
void expect_well_formed_text(const std::string& text) {
    const std::string_view shown = std::string_view(text).substr(0, 200);
    EXPECT_EQ(text.find("\n\n\n"), std::string::npos) << shown;
    EXPECT_EQ(text.find(" \n"), std::string::npos) << shown;
    EXPECT_EQ(text.find("\t\n"), std::string::npos) << shown;
    EXPECT_EQ(text.find('\r'), std::string::npos) << shown;
    if (!text.empty()) {
        EXPECT_NE(text.front(), '\n') << shown;
        EXPECT_NE(text.back(), '\n') << shown;
        EXPECT_NE(text.back(), ' ') << shown;
        EXPECT_NE(text.back(), '\t') << shown;
    }
}

double seconds_to_convert(std::string_view html) {
    const auto start = std::chrono::steady_clock::now();
    const std::string text = html_to_text(html);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    expect_well_formed_text(text);
    return elapsed.count();
}

std::string repeat(std::string_view piece, std::size_t times) {
    std::string out;
    out.reserve(piece.size() * times);
    for (std::size_t i = 0; i < times; ++i) {
        out += piece;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Table of small conversions

struct conversion_case {
    const char* name;
    std::string html;
    std::string expected;
};

std::ostream& operator<<(std::ostream& os, const conversion_case& c) {
    return os << c.name;
}

class html_to_text_case : public testing::TestWithParam<conversion_case> {};

TEST_P(html_to_text_case, converts_exactly) {
    const conversion_case& c = GetParam();
    const std::string text = html_to_text(c.html);
    EXPECT_EQ(text, c.expected) << "input: " << c.html;
    expect_well_formed_text(text);
}

std::string case_name(const testing::TestParamInfo<conversion_case>& info) {
    return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(
    lines_and_whitespace, html_to_text_case,
    testing::Values(
        conversion_case{"empty", "", ""},
        conversion_case{"plain_text", "Hello world", "Hello world"},
        conversion_case{"whitespace_collapses", "  Hello \t\r\n  world  ", "Hello world"},
        conversion_case{"whitespace_across_inline_tags",
                        "<b>Hi</b> <i>there</i>,<span> Dana</span><font color=red>!</font>",
                        "Hi there, Dana!"},
        conversion_case{"br_forms", "one<br>two<BR/>three<br />four<bR>", "one\ntwo\nthree\nfour"},
        conversion_case{"end_br_is_br", "a</br>b", "a\nb"},
        conversion_case{"double_br_is_blank_line", "one<br><br>two", "one\n\ntwo"},
        conversion_case{"many_br_one_blank_line", "one<br><br><br><br>two", "one\n\ntwo"},
        conversion_case{"no_leading_or_trailing_blank_lines", "<br><br>text<br><br><br>", "text"},
        conversion_case{"source_newlines_are_spaces", "one\ntwo\r\nthree", "one two three"},
        conversion_case{"paragraphs_blank_line_between", "<p>First</p><p>Second</p>",
                        "First\n\nSecond"},
        conversion_case{"paragraph_after_text", "Intro<p>Para</p>After", "Intro\n\nPara\nAfter"},
        conversion_case{"paragraph_after_div", "<div>Hi</div><p>Para</p>", "Hi\n\nPara"},
        conversion_case{"divs_are_lines", "<div>one</div><div>two</div>three", "one\ntwo\nthree"},
        conversion_case{"nested_divs_one_break",
                        "<div><div><div>deep</div></div></div><div>x</div>", "deep\nx"},
        conversion_case{"empty_blocks_vanish", "<div></div><p></p><div> </div>text<p> </p>",
                        "text"},
        conversion_case{"outlook_web_blank_div", "<div>Hi</div><div><br></div><div>Agenda</div>",
                        "Hi\n\nAgenda"},
        conversion_case{"headings", "<h1>Title</h1>Body<h2>Sub</h2><H3>Three</H3><h6>Six</h6>",
                        "Title\nBody\n\nSub\n\nThree\n\nSix"},
        conversion_case{"hr", "above<hr>below<HR/>end",
                        "above\n----------\nbelow\n----------\nend"},
        conversion_case{"block_elements",
                        "<section>a</section><article>b</article><header>c</header>"
                        "<footer>d</footer><blockquote>e</blockquote><address>f</address>"
                        "<center>g</center><form>h</form><dl><dt>i</dt><dd>j</dd></dl>",
                        "a\nb\nc\nd\ne\nf\ng\nh\ni\nj"},
        conversion_case{"lines_right_trimmed", "a &nbsp;<br>b&nbsp;&nbsp;</p>", "a\nb"},
        conversion_case{"leading_spaces_of_lines_dropped", "<div>  a</div>\n   <div>\n b</div>",
                        "a\nb"},
        conversion_case{"pre_keeps_lines", "<pre>\nline 1\n  indented\n\nline 4</pre>after",
                        "line 1\n  indented\n\nline 4\nafter"},
        conversion_case{"pre_line_endings", "<pre>a\r\nb\rc</pre>", "a\nb\nc"},
        conversion_case{"pre_first_crlf_dropped", "<pre>\r\nx</pre>", "x"},
        conversion_case{"pre_keeps_spaces_and_tabs", "<PRE>a  b\tc</PRE>", "a  b\tc"},
        conversion_case{"pre_decodes_entities", "<pre>x &lt; y</pre>", "x < y"},
        conversion_case{"pre_blank_lines_capped", "<pre>a\n\n\n\nb</pre>", "a\n\nb"},
        conversion_case{"table_rows_are_lines",
                        "<table><tr><th>Day</th><th>Room</th></tr>"
                        "<tr><td>Mon</td><td>4.01</td></tr></table>",
                        "Day Room\nMon 4.01"},
        conversion_case{"table_empty_cells",
                        "<table><tr><td></td><td>x</td><td> </td><td>y"
                        "</td></tr></table>",
                        "x y"},
        conversion_case{"table_around_text",
                        "before<table><tbody><tr><td>in</td></tr></tbody>"
                        "</table>after",
                        "before\nin\nafter"}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    lists, html_to_text_case,
    testing::Values(
        conversion_case{"unordered", "<ul><li>one</li><li>two</li></ul>", "- one\n- two"},
        conversion_case{"ordered", "<ol><li>one<li>two<li>three</ol>", "1. one\n2. two\n3. three"},
        conversion_case{"ordered_start", "<OL START=\"4\"><li>d</li><li>e</li></OL>", "4. d\n5. e"},
        conversion_case{"numbering_per_list", "<ol><li>a</li></ol><ol><li>b</li></ol>",
                        "1. a\n1. b"},
        conversion_case{"nested_lists_indent",
                        "<ul><li>Fruit<ul><li>Apple</li><li>Pear</li></ul></li>"
                        "<li>Veg<ol><li>Kale</li><li>Leek</li></ol></li></ul>",
                        "- Fruit\n  - Apple\n  - Pear\n- Veg\n  1. Kale\n  2. Leek"},
        conversion_case{"numbering_resumes_after_nested_list",
                        "<ol><li>a<ol><li>x</li><li>y</li></ol></li><li>b</li></ol>",
                        "1. a\n  1. x\n  2. y\n2. b"},
        conversion_case{"blocks_inside_items_stay_on_marker_line",
                        "<ul><li><p>Pricing</p></li><li><div>Roadmap</div></li></ul>",
                        "- Pricing\n- Roadmap"},
        conversion_case{"list_after_text", "Agenda<ul><li>a</li></ul>Done", "Agenda\n- a\nDone"},
        conversion_case{"item_without_list", "<li>loose</li>", "- loose"},
        conversion_case{"empty_item", "<ul><li></li><li>b</li></ul>", "-\n- b"},
        conversion_case{"item_nested_in_empty_item", "<ul><li><ul><li>x</li></ul></li></ul>",
                        "-\n  - x"},
        conversion_case{"unclosed_items_and_list", "<ul><li>a<li>b", "- a\n- b"},
        conversion_case{"stray_list_end", "</ol></ul><ol><li>a</li></ol>", "1. a"},
        conversion_case{"word_downlevel_list_paragraph",
                        "<p class=MsoListParagraphCxSpFirst style='mso-list:l0 level1 lfo1'>"
                        "<![if !supportLists]><span style='mso-list:Ignore'>1.<span>&nbsp;&nbsp; "
                        "</span></span><![endif]>Pricing<o:p></o:p></p>",
                        "1.   Pricing"}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    links_and_images, html_to_text_case,
    testing::Values(
        conversion_case{"text_then_url", "<a href=\"https://example.com/x\">Example</a>",
                        "Example<https://example.com/x>"},
        conversion_case{"text_is_url",
                        "<a href=\"https://example.com/x\">https://example.com/x</a>",
                        "https://example.com/x"},
        conversion_case{"text_is_url_with_spaces",
                        "Go <a href=\"https://e.com\"> https://e.com </a>!", "Go https://e.com !"},
        conversion_case{"empty_text", "See <a href=\"https://e.com/doc\"></a> now",
                        "See https://e.com/doc now"},
        conversion_case{"image_only",
                        "<a href=\"https://e.com\"><img src=\"l.png\" alt=\"Logo\"></a>",
                        "https://e.com"},
        conversion_case{"mailto", "Ask <a href=\"mailto:dana@example.com\">Dana</a>.", "Ask Dana."},
        conversion_case{"mailto_upper_case", "<a href=\"MAILTO:x@example.com\">X</a>", "X"},
        conversion_case{"mailto_without_text",
                        "<a href=\"mailto:dana@example.com?subject=Hi\"></a>", "dana@example.com"},
        conversion_case{"entities_in_href", "<a href=\"https://e.com/?a=1&amp;b=2\">Go</a>",
                        "Go<https://e.com/?a=1&b=2>"},
        conversion_case{"controls_in_href_percent_encoded",
                        "<a href=\"https://e.com/a&#1;b\x1B"
                        "c\xC2\x9B"
                        "d&#12;e\xC3\x85\">Go</a>",
                        "Go<https://e.com/a%01b%1Bc%C2%9Bd%0Ce\xC3\x85>"},
        conversion_case{"legacy_name_in_href_kept", "<a href=\"https://e.com/?a=1&ltd=2\">Go</a>",
                        "Go<https://e.com/?a=1&ltd=2>"},
        conversion_case{"single_quoted_and_bare_values",
                        "<a href='https://e.com/1'>One</a> <a href=https://e.com/2>Two</a>",
                        "One<https://e.com/1> Two<https://e.com/2>"},
        conversion_case{"case_insensitive_names", "<A HREF=\"https://e.com\">E</A>",
                        "E<https://e.com>"},
        conversion_case{"gt_inside_quoted_value",
                        "<a title=\"a > b\" href=\"https://e.com\" data-x='>'>E</a>",
                        "E<https://e.com>"},
        conversion_case{"first_href_wins",
                        "<a href=\"https://e.com/1\" href=\"https://e.com/2\">E</a>",
                        "E<https://e.com/1>"},
        conversion_case{"no_href", "<a name=\"top\">Top</a>", "Top"},
        conversion_case{"in_page_anchor", "<a href=\"#agenda\">Agenda</a>", "Agenda"},
        conversion_case{"markup_in_text", "<a href=\"https://e.com\"><b>Bold</b> link</a>",
                        "Bold link<https://e.com>"},
        conversion_case{"space_after_text_stays_after_url",
                        "<a href=\"https://e.com\">Join </a>now", "Join<https://e.com> now"},
        conversion_case{"wrapped_href", "<a href=\" https://e.com/a\r\n\tb \">x</a>",
                        "x<https://e.com/ab>"},
        conversion_case{"unclosed_link", "<a href=\"https://e.com\">tail", "tail<https://e.com>"},
        conversion_case{"link_ends_link",
                        "<a href=\"https://e.com/1\">one<a href=\"https://e.com/2\">"
                        "two</a>",
                        "one<https://e.com/1>two<https://e.com/2>"},
        conversion_case{"link_in_block",
                        "<div><a href=\"https://e.com\">Join</a></div><div>next</div>",
                        "Join<https://e.com>\nnext"},
        conversion_case{"block_in_link", "<a href=\"https://e.com\"><div>Join</div></a>next",
                        "Join<https://e.com>\nnext"},
        conversion_case{"images_ignored", "before<img src=\"x.png\" alt=\"Company logo\">after",
                        "beforeafter"}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    dropped_and_ignored, html_to_text_case,
    testing::Values(
        conversion_case{"script", "a<script>var x = '<p>'; if (a<b) {}</script>b", "ab"},
        conversion_case{"style", "<style>p { color: red } /* </p> */</style>text", "text"},
        conversion_case{"style_end_tag_case_and_space", "<STYLE>x</Style >text", "text"},
        conversion_case{"style_end_tag_needs_whole_name", "<style>a</styles>b</style>c", "c"},
        conversion_case{"head",
                        "<html><head><title>Secret</title><meta charset=utf-8>"
                        "<link rel=x></head><body>Shown</body></html>",
                        "Shown"},
        conversion_case{"head_text_dropped", "<head>junk</head>body", "body"},
        conversion_case{"head_ended_by_body_element", "<head><meta x><p>Visible</p>", "Visible"},
        conversion_case{"head_ended_by_body_tag", "<head>junk<body>Visible", "Visible"},
        conversion_case{"late_head_ignored", "Hi<head>there</head>", "Hithere"},
        conversion_case{"title_outside_head", "<title>T</title>Body", "Body"},
        conversion_case{"word_xml",
                        "<xml><o:OfficeDocumentSettings><o:AllowPNG/>"
                        "</o:OfficeDocumentSettings></xml>Text",
                        "Text"},
        conversion_case{"template", "<template><p>hidden</p></template>shown", "shown"},
        conversion_case{"noscript", "<noscript>Enable JavaScript</noscript>shown", "shown"},
        conversion_case{"comment", "a<!-- hidden <p>x</p> -->b", "ab"},
        conversion_case{"word_conditional_comment",
                        "a<!--[if gte mso 9]><xml><w:WordDocument>Print</w:WordDocument></xml>"
                        "<![endif]-->b",
                        "ab"},
        conversion_case{"empty_comments", "a<!-->b<!--->c", "abc"},
        conversion_case{"processing_instructions",
                        "<?xml version=\"1.0\"?><?xml:namespace prefix = o ns = "
                        "\"urn:schemas-microsoft-com:office:office\" />Text",
                        "Text"},
        conversion_case{"doctype",
                        "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.0 Transitional//EN\">"
                        "Text",
                        "Text"},
        conversion_case{"cdata", "a<![CDATA[x < y &amp; z]]>b", "ax < y &amp; zb"},
        conversion_case{"unterminated_cdata", "a<![CDATA[x", "ax"},
        conversion_case{"namespaced_tags_ignored",
                        "<p>Hi<o:p></o:p></p><v:shape id=x><v:textbox>Box text</v:textbox>"
                        "</v:shape><w:WordDocument>kept</w:WordDocument>",
                        "Hi\nBox textkept"},
        conversion_case{"unknown_tags_ignored",
                        "<blink>Hi</blink> <custom-el>x</custom-el><foo bar=1>y</foo>", "Hi xy"}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    entities, html_to_text_case,
    testing::Values(
        conversion_case{"numeric", "caf&#233; caf&#xE9; caf&#XE9; &#x1F600; &#72;i",
                        "café café café 😀 Hi"},
        conversion_case{"numeric_without_semicolon", "&#233x &#x41-", "éx A-"},
        conversion_case{"numeric_invalid", "a&#0;b&#xD800;c&#x110000;d&#99999999999;e",
                        "a�b�c�d�e"},
        // 0x81 is one of the five bytes Windows-1252 leaves undefined: U+0081 is a control.
        conversion_case{"numeric_windows_1252", "&#146;&#150;&#128;&#129;", "’–€"},
        // Found by fuzzing: control characters, written as references or as they are, reached the
        // text, and from there explain's output ("&#27;[31m" is a terminal escape sequence).
        conversion_case{"control_characters_dropped",
                        "a&#1;b&#27;[31mc&#127;d&#x9D;e\x01"
                        "f\x1B[0mg\xC2\x9B"
                        "h\x7Fi",
                        "ab[31mcdef[0mghi"},
        conversion_case{"numeric_whitespace_collapses", "a&#10;&#32; &#9;b", "a b"},
        conversion_case{"numeric_markup_is_text", "&#60;p&#62;", "<p>"},
        conversion_case{"not_numeric", "a &# b &#x; c &#xyz;", "a &# b &#x; c &#xyz;"},
        conversion_case{"basic", "&amp; &lt; &gt; &quot; &apos;", "& < > \" '"},
        conversion_case{"escaped_markup_is_text", "&lt;p&gt;not a tag&lt;/p&gt;",
                        "<p>not a tag</p>"},
        conversion_case{"nbsp_is_plain_space", "a&nbsp;b", "a b"},
        conversion_case{"nbsp_does_not_collapse", "a&nbsp;&nbsp;b &nbsp;c", "a  b  c"},
        conversion_case{"spaces_and_soft_hyphen", "a&ensp;b&emsp;c&thinsp;d co&shy;op",
                        "a b c d coop"},
        conversion_case{"typography",
                        "&copy;&reg;&trade;&hellip;&mdash;&ndash;&lsquo;&rsquo;&sbquo;&ldquo;"
                        "&rdquo;&bdquo;&bull;&middot;&euro;&pound;&yen;&cent;&sect;&para;&deg;"
                        "&plusmn;&times;&divide;&laquo;&raquo;&iexcl;&iquest;&frac12;&frac14;"
                        "&frac34;",
                        "©®™…—–‘’‚“”„•·€£¥¢§¶°±×÷«»¡¿½¼¾"},
        conversion_case{"latin1_letters",
                        "&Agrave;&aacute;&Acirc;&atilde;&Auml;&aring;&Ccedil;&Egrave;&eacute;"
                        "&ecirc;&Euml;&igrave;&Iacute;&icirc;&iuml;&Ntilde;&ograve;&Oacute;"
                        "&ocirc;&Otilde;&ouml;&Oslash;&oslash;&Ugrave;&uacute;&Ucirc;&uuml;"
                        "&Yacute;&yuml;&szlig;&ETH;&eth;&THORN;&thorn;&AElig;&aelig;&OElig;"
                        "&oelig;&Scaron;&scaron;",
                        "ÀáÂãÄåÇÈéêËìÍîïÑòÓôÕöØøÙúÛüÝÿßÐðÞþÆæŒœŠš"},
        conversion_case{"names_are_case_sensitive", "&AMP; &Nbsp; &Eacute;&eacute;",
                        "&AMP; &Nbsp; Éé"},
        conversion_case{"unknown_names_kept", "&bogus; &zz &copy 2024", "&bogus; &zz &copy 2024"},
        conversion_case{"bare_ampersand", "R & D, AT&T &", "R & D, AT&T &"},
        conversion_case{"legacy_without_semicolon", "&amp &lt &gt &quot a&nbspb Tom&ampJerry",
                        "& < > \" a b Tom&Jerry"},
        conversion_case{"raw_no_break_space",
                        "a\xC2\xA0"
                        "b a\xC2\xA0\xC2\xA0"
                        "b",
                        "a b a  b"},
        conversion_case{"zero_width_and_bom_removed",
                        "\xEF\xBB\xBFHel\xE2\x80\x8Blo &#8203;wor&#xFEFF;ld", "Hello world"},
        conversion_case{"utf8_passes", "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC", "café 日本"},
        conversion_case{"invalid_utf8_passes", "a\xFF\xC3 b\x80", "a\xFF\xC3 b\x80"}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    malformed, html_to_text_case,
    testing::Values(
        conversion_case{"less_than_in_prose", "a < b and c > d", "a < b and c > d"},
        conversion_case{"heart", "x<3 y", "x<3 y"}, conversion_case{"lone_lt_at_end", "a <", "a <"},
        conversion_case{"lone_end_at_end", "a </", "a </"},
        conversion_case{"unterminated_tag", "before<div class=\"x>y", "before"},
        conversion_case{"unterminated_quote", "before<a href='https://e.com>x</a>", "before"},
        conversion_case{"unterminated_comment", "before<!-- never closed <p>x", "before"},
        conversion_case{"unterminated_declaration", "before<!DOCTYPE html", "before"},
        conversion_case{"stray_end_tags", "</div></span>text</p></a>", "text"},
        conversion_case{"empty_end_tag", "a</>b", "ab"},
        conversion_case{"bogus_end_tag", "a</ 3>b", "ab"},
        conversion_case{
            "outlook_link_text_kept",
            "Join<https://teams.microsoft.com/l/x><br>Ask Dana<mailto:dana@example.com>",
            "Join<https://teams.microsoft.com/l/x>\nAsk Dana<mailto:dana@example.com>"}),
    case_name);

// ---------------------------------------------------------------------------------------------
// Invitation bodies as calendar producers write them

TEST(html_to_text, google_calendar_description) {
    const std::string html =
        "Agenda<br><ul><li>Pricing</li><li>Roadmap</li></ul><br>Join with Google Meet: "
        "<a href=\"https://meet.google.com/abc-defg-hij\">meet.google.com/abc-defg-hij</a>";
    EXPECT_TRUE(looks_like_html(html));
    EXPECT_EQ(html_to_text(html),
              "Agenda\n"
              "- Pricing\n"
              "- Roadmap\n"
              "\n"
              "Join with Google Meet: meet.google.com/abc-defg-hij"
              "<https://meet.google.com/abc-defg-hij>");
}

// Shaped like Outlook desktop's Word HTML (compare the corpus's outlook-test-invite.eml below).
constexpr std::string_view word_html = R"html(<html xmlns:v="urn:schemas-microsoft-com:vml"
xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word"
xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv=Content-Type content="text/html; charset=utf-8">
<meta name=Generator content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
	{margin:0cm;
	font-size:11.0pt;
	font-family:"Calibri",sans-serif;}
p.MsoListParagraph, li.MsoListParagraph
	{margin-left:36.0pt;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
</head>
<body lang=EN-US link="#0563C1" vlink="#954F72" style='word-wrap:break-word'>
<div class=WordSection1>
<p class=MsoNormal>Hi Dana,<o:p></o:p></p>
<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal>Agenda:<o:p></o:p></p>
<ol style='margin-top:0cm' start=1 type=1>
<li class=MsoListParagraph style='margin-left:0cm;mso-list:l0 level1 lfo1'>Pricing<o:p></o:p>
</li>
<li class=MsoListParagraph style='margin-left:0cm;mso-list:l0 level1 lfo1'>Roadmap &#8211; Q3
<o:p></o:p></li>
</ol>
<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal>Join: <a
href="https://teams.microsoft.com/l/meetup-join/19%3ameeting_X%40thread.v2/0">Click here to join
the meeting</a><o:p></o:p></p>
<p class=MsoNormal>Thanks,<o:p></o:p></p>
<p class=MsoNormal>Sam<o:p></o:p></p>
</div>
</body>
</html>
)html";

TEST(html_to_text, outlook_word_body) {
    EXPECT_TRUE(looks_like_html(word_html));
    EXPECT_EQ(html_to_text(word_html),
              "Hi Dana,\n"
              "\n"
              "Agenda:\n"
              "1. Pricing\n"
              "2. Roadmap – Q3\n"
              "\n"
              "Join: Click here to join the meeting"
              "<https://teams.microsoft.com/l/meetup-join/19%3ameeting_X%40thread.v2/0>\n"
              "\n"
              "Thanks,\n"
              "\n"
              "Sam");
}

// Copied verbatim (but for CRLF line ends) from the text/html part of
// shared/corpus/thunderbird-imip-eml/teams-meeting-invite.eml: quoted-printable ISO-8859-1,
// decoded below as a mail reader would.
constexpr std::string_view teams_invite_qp = R"qp(<html>
<head>
<meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Diso-8859-=
1">
</head>
<body>
<div><br>
<br>
<br>
<div style=3D"width:100%;height: 20px;"><span style=3D"white-space:nowrap;c=
olor:#5F5F5F;opacity:.36;">________________________________________________=
________________________________</span>
</div>
<div class=3D"me-email-text" style=3D"color:#252424;font-family:'Segoe UI',=
'Helvetica Neue',Helvetica,Arial,sans-serif;">
<div style=3D"margin-top: 24px; margin-bottom: 20px;"><span style=3D"font-s=
ize: 24px; color:#252424">Microsoft Teams -kokous</span>
</div>
<div style=3D"margin-bottom: 20px;">
<div style=3D"margin-top: 0px; margin-bottom: 0px; font-weight: bold"><span=
 style=3D"font-size: 14px; color:#252424">Liity tietokoneella tai mobiiliso=
velluksella</span>
</div>
<a class=3D"me-email-headline" style=3D"font-size: 14px;font-family:'Segoe =
UI Semibold','Segoe UI','Helvetica Neue',Helvetica,Arial,sans-serif;text-de=
coration: underline;color: #6264a7;" href=3D"https://teams.microsoft.com/l/=
meetup-join/19%3ameeting_MHU5NmI5ZGAtOWZmOC00Y2ZmLWJlOTItNjUxNjA5YjUyYTYy%4=
0thread.v2/0?context=3D%7b%33Tid%22%3a%222fd0c1c5-28e1-40c4-9f0d-a0363ca80a=
3c%22%2c%22Oid%22%3a%2214464d09-ceb8-458c-a61c-717f1e5c66c5%22%7d" target=
=3D"_blank" rel=3D"noreferrer noopener">Liity
 kokoukseen napsauttamalla t=E4t=E4</a> </div>
<div style=3D"margin-bottom: 24px;margin-top: 20px;"><a class=3D"me-email-l=
ink" style=3D"font-size: 14px;text-decoration: underline;color: #6264a7;fon=
t-family:'Segoe UI','Helvetica Neue',Helvetica,Arial,sans-serif;" target=3D=
"_blank" href=3D"https://aka.ms/JoinTeamsMeeting" rel=3D"noreferrer noopene=
r">Lis=E4tietoja</a>
 | <a class=3D"me-email-link" style=3D"font-size: 14px;text-decoration: und=
erline;color: #6264a7;font-family:'Segoe UI','Helvetica Neue',Helvetica,Ari=
al,sans-serif;" target=3D"_blank" href=3D"https://teams.microsoft.com/meeti=
ngOptions/?organizerId=3D14464d09-ceb8-458c-a61c-717f1e5c66c5&amp;tenantId=
=3D2fd0c1c5-28e1-40c4-9f0d-a0363ca80a3c&amp;threadId=3D19_meeting_MGU5NmI2Z=
GYtOWZmOC00Y2ZmLWJlOTItNjUxNjA5YjUyYTYy@thread.v2&amp;messageId=3D0&amp;lan=
guage=3Dfi-FI" rel=3D"noreferrer noopener">
Kokousasetukset</a> </div>
</div>
<div style=3D"font-size: 14px; margin-bottom: 4px;font-family:'Segoe UI','H=
elvetica Neue',Helvetica,Arial,sans-serif;">
</div>
<div style=3D"font-size: 12px;"></div>
<div style=3D"width:100%;height: 20px;"><span style=3D"white-space:nowrap;c=
olor:#5F5F5F;opacity:.36;">________________________________________________=
________________________________</span>
</div>
</div>
</body>
</html>
)qp";

// Copied verbatim (but for CRLF line ends) from the text/html part of
// shared/corpus/thunderbird-imip-eml/outlook-test-invite.eml: Outlook's Word HTML for an
// invitation with an empty body, quoted-printable ISO-8859-1.
constexpr std::string_view outlook_invite_qp =
    R"qp(<html xmlns:v=3D"urn:schemas-microsoft-com:vml" xmlns:o=3D"urn:schemas-micr=
osoft-com:office:office" xmlns:w=3D"urn:schemas-microsoft-com:office:word" =
xmlns:m=3D"http://schemas.microsoft.com/office/2004/12/omml" xmlns=3D"http:=
//www.w3.org/TR/REC-html40"><head>
<meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Diso-8859-=
1">
<meta name=3D"Generator" content=3D"Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
	{font-family:"Cambria Math";
	panose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
	{font-family:Calibri;
	panose-1:2 15 5 2 2 2 4 3 2 4;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
	{margin:0cm;
	font-size:11.0pt;
	font-family:"Calibri",sans-serif;
	mso-fareast-language:EN-US;}
span.EmailStyle18
	{mso-style-type:personal-compose;
	font-family:"Calibri",sans-serif;
	color:windowtext;}
.MsoChpDefault
	{mso-style-type:export-only;
	font-size:10.0pt;}
@page WordSection1
	{size:612.0pt 792.0pt;
	margin:70.85pt 2.0cm 70.85pt 2.0cm;}
div.WordSection1
	{page:WordSection1;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext=3D"edit" spidmax=3D"1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext=3D"edit">
<o:idmap v:ext=3D"edit" data=3D"1" />
</o:shapelayout></xml><![endif]-->
</head>
<body lang=3D"FI" link=3D"#0563C1" vlink=3D"#954F72" style=3D"word-wrap:bre=
ak-word">
<div class=3D"WordSection1">
<p class=3D"MsoNormal"><o:p>&nbsp;</o:p></p>
</div>
</body>
</html>
)qp";

std::string teams_invite_html() {
    return latin1_to_utf8(decode_quoted_printable(teams_invite_qp));
}

TEST(html_to_text, corpus_teams_invite) {
    const std::string html = teams_invite_html();
    ASSERT_NE(html.find("<html>"), std::string::npos);
    EXPECT_TRUE(looks_like_html(html));
    const std::string line(80, '_');
    // The same lines as the message's own text/plain part, which Exchange rendered from it.
    EXPECT_EQ(
        html_to_text(html),
        line +
            "\n"
            "Microsoft Teams -kokous\n"
            "Liity tietokoneella tai mobiilisovelluksella\n"
            "Liity kokoukseen napsauttamalla tätä"
            "<https://teams.microsoft.com/l/meetup-join/19%3ameeting_"
            "MHU5NmI5ZGAtOWZmOC00Y2ZmLWJlOTItNjUxNjA5YjUyYTYy%40thread.v2/0?context="
            "%7b%33Tid%22%3a%222fd0c1c5-28e1-40c4-9f0d-a0363ca80a3c%22%2c%22Oid%22%3a%22"
            "14464d09-ceb8-458c-a61c-717f1e5c66c5%22%7d>\n"
            "Lisätietoja<https://aka.ms/JoinTeamsMeeting> | "
            "Kokousasetukset<https://teams.microsoft.com/meetingOptions/?organizerId="
            "14464d09-ceb8-458c-a61c-717f1e5c66c5&tenantId=2fd0c1c5-28e1-40c4-9f0d-a0363ca80a3c"
            "&threadId=19_meeting_MGU5NmI2ZGYtOWZmOC00Y2ZmLWJlOTItNjUxNjA5YjUyYTYy@thread.v2"
            "&messageId=0&language=fi-FI>\n" +
            line);
}

TEST(html_to_text, corpus_outlook_invite_with_empty_body) {
    const std::string html = latin1_to_utf8(decode_quoted_printable(outlook_invite_qp));
    ASSERT_NE(html.find("WordSection1"), std::string::npos);
    EXPECT_TRUE(looks_like_html(html));
    // Style sheet, conditional <xml> blocks and the &nbsp; paragraph leave nothing to read.
    EXPECT_EQ(html_to_text(html), "");
}

// Graph event bodies from shared/corpus/msgraph-docs-examples, JSON-unescaped.
TEST(html_to_text, graph_body_with_style_block) {
    // v1.0-eventmessage-get.02.response.json
    const std::string html =
        "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; "
        "charset=utf-8\">\r\n<meta content=\"text/html; charset=us-ascii\">\r\n<style "
        "type=\"text/css\" style=\"display:none\">\r\n<!--\r\np\r\n\t{margin-top:0;\r\n\t"
        "margin-bottom:0}\r\n-->\r\n</style>\r\n</head>\r\n<body dir=\"ltr\">\r\n<div "
        "id=\"divtagdefaultwrapper\" dir=\"ltr\" style=\"font-size:12pt; color:#000000; "
        "font-family:Calibri,Helvetica,sans-serif\">\r\n<p style=\"margin-top:0; "
        "margin-bottom:0\">Let's collect opinions from our teams and organize action "
        "items.<br>\r\n</p>\r\n</div>\r\n</body>\r\n</html>\r\n";
    EXPECT_TRUE(looks_like_html(html));
    EXPECT_EQ(html_to_text(html),
              "Let's collect opinions from our teams and organize action items.");
}

TEST(html_to_text, graph_bodies) {
    // v1.0-event-get.01.response.json
    EXPECT_EQ(html_to_text("<html><head></head><body><p>Dana, this is the time you selected for "
                           "our orientation. Please bring the notes I sent you.</p></body></html>"),
              "Dana, this is the time you selected for our orientation. Please bring the notes I "
              "sent you.");
    // concepts-delta-query-events.01.response.json: Outlook's empty Word paragraph
    EXPECT_EQ(html_to_text("<html>\r\n<head></head>\r\n<body lang=\"EN-US\" link=\"#0563C1\" "
                           "vlink=\"#954F72\" style=\"\">\r\n<div class=\"WordSection1\">\r\n"
                           "<p class=\"MsoNormal\">&nbsp;</p>\r\n</div>\r\n</body>\r\n</html>\r\n"),
              "");
}

// Every HTML body in the Graph examples, read from the corpus itself.
TEST(html_to_text, corpus_graph_examples) {
    const std::filesystem::path dir = shared_dir() / "corpus" / "msgraph-docs-examples";
    ASSERT_TRUE(std::filesystem::is_directory(dir)) << "the shared corpus is missing at " << dir;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() == ".json") {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    std::size_t bodies = 0;
    std::size_t non_empty = 0;
    bool saw_orientation = false;
    for (const auto& file : files) {
        const std::string json = read_file(file);
        constexpr std::string_view marker = "\"contentType\": \"html\"";
        for (std::size_t at = json.find(marker); at != std::string::npos;
             at = json.find(marker, at + 1)) {
            const std::size_t key = json.find("\"content\":", at);
            if (key == std::string::npos) {
                break;
            }
            const std::size_t quote = json.find('"', key + 10);
            const std::string html = read_json_string(json, quote);
            const std::string text = html_to_text(html);
            SCOPED_TRACE(file.filename().string() + ": " + html);
            ++bodies;
            non_empty += text.empty() ? 0 : 1;
            expect_well_formed_text(text);
            EXPECT_FALSE(looks_like_html(text)) << text;
            for (std::string_view leftover :
                 {"&nbsp;", "&amp;", "&lt;", "&gt;", "&quot;", "<!--", "{margin", "charset"}) {
                EXPECT_EQ(text.find(leftover), std::string::npos) << text;
            }
            saw_orientation =
                saw_orientation || text ==
                                       "Dana, this is the time you selected for our orientation. "
                                       "Please bring the notes I sent you.";
        }
    }
    EXPECT_GE(bodies, 20U);
    EXPECT_GE(non_empty, 10U);
    EXPECT_TRUE(saw_orientation);
}

// ---------------------------------------------------------------------------------------------
// looks_like_html

TEST(looks_like_html, recognises_markup) {
    for (std::string_view html :
         {"Hello<br>world", "line<br/>", "x<BR />y", "<p>x</p>", "<DIV>x</DIV>", "<b>bold</b>",
          "<ul><li>a</li></ul>", "<a href=\"https://e.com\">e</a>", "<A HREF=x>e</A>",
          "<html><body>x</body></html>", "<span style=\"color:red\">x</span>",
          "<table><tr><td>x</td></tr></table>", "<!DOCTYPE html><title>x</title>",
          "<!-- comment -->", "Dear all,<o:p></o:p>"}) {
        EXPECT_TRUE(looks_like_html(html)) << html;
    }
}

TEST(looks_like_html, rejects_plain_text) {
    // How Outlook's plain-text bodies write a link.
    constexpr std::string_view outlook_link =
        "Click here to join the meeting<https://teams.microsoft.com/l/meetup-join/19%3ameeting_"
        "NjQ3ZDg0%40thread.v2/0?context=%7b%22Tid%22%3a%22x%22%7d>";
    EXPECT_FALSE(looks_like_html(outlook_link));
    EXPECT_EQ(html_to_text(outlook_link), outlook_link);
    for (std::string_view text :
         {"", "Plain text\nwith two lines", "a < b and c > d", "x<3", "a<b", "<br",
          "Dana<mailto:dana@example.com>", "Write to <dana@example.com>", "<a lot of> work",
          "Use the <tab> key", "R&amp;D"}) {
        EXPECT_FALSE(looks_like_html(text)) << text;
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input: bounded time, no crash, and still well-formed output

TEST(html_to_text, deep_list_nesting_caps_indentation) {
    const std::string html = repeat("<ul><li>x", 20) + repeat("</li></ul>", 20) + "<ol><li>y";
    std::string expected;
    for (std::size_t level = 0; level < 20; ++level) {
        expected += std::string(2 * std::min<std::size_t>(level, 15), ' ') + "- x\n";
    }
    expected += "1. y";
    EXPECT_EQ(html_to_text(html), expected);
}

struct hostile_case {
    const char* name;
    std::function<std::string()> make_html;
    std::function<std::string()> make_expected;
};

std::ostream& operator<<(std::ostream& os, const hostile_case& c) {
    return os << c.name;
}

class html_to_text_hostile : public testing::TestWithParam<hostile_case> {};

constexpr std::size_t megabyte = 1 << 20;

// Megabyte-sized strings make unreadable failure messages; say where they differ instead.
void expect_same_text(const std::string& actual, const std::string& expected) {
    const auto mismatch =
        std::mismatch(actual.begin(), actual.end(), expected.begin(), expected.end());
    const auto offset = static_cast<std::size_t>(mismatch.first - actual.begin());
    EXPECT_TRUE(actual == expected)
        << "sizes " << actual.size() << " and " << expected.size() << ", first difference at "
        << offset << ": \"" << std::string_view(actual).substr(offset, 40) << "\"";
}

TEST_P(html_to_text_hostile, finishes_quickly) {
    const hostile_case& c = GetParam();
    const std::string html = c.make_html();
    const auto start = std::chrono::steady_clock::now();
    const std::string text = html_to_text(html);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_LT(elapsed.count(), 2.0);
    expect_same_text(text, c.make_expected());
    expect_well_formed_text(text);

    const auto detect_start = std::chrono::steady_clock::now();
    (void)looks_like_html(html);
    const std::chrono::duration<double> detect = std::chrono::steady_clock::now() - detect_start;
    EXPECT_LT(detect.count(), 2.0);
}

std::string nested_ordered_items(std::size_t levels) {
    std::string out;
    for (std::size_t level = 1; level <= levels; ++level) {
        out += std::string(2 * (std::min<std::size_t>(level, 16) - 1), ' ') + "1.";
        out += level < levels ? "\n" : "";
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(
    all, html_to_text_hostile,
    testing::Values(
        hostile_case{"megabyte_of_lt", [] { return std::string(megabyte, '<'); },
                     [] { return std::string(megabyte, '<'); }},
        hostile_case{"megabyte_of_open_a", [] { return repeat("<a ", megabyte / 3); },
                     [] { return std::string(); }},
        hostile_case{"nested_lists", [] { return repeat("<ul>", 100'000) + "<li>deep"; },
                     [] { return std::string(30, ' ') + "- deep"; }},
        hostile_case{"nested_items", [] { return repeat("<ol><li>", 100'000); },
                     [] { return nested_ordered_items(100'000); }},
        hostile_case{"unterminated_comment", [] { return "a<!--" + repeat("<p>-- ->", 200'000); },
                     [] { return std::string("a"); }},
        hostile_case{"megabyte_of_numeric_starts", [] { return repeat("&#", megabyte / 2); },
                     [] { return repeat("&#", megabyte / 2); }},
        hostile_case{"long_entity_names", [] { return repeat("&" + std::string(1000, 'a'), 1000); },
                     [] { return repeat("&" + std::string(1000, 'a'), 1000); }},
        hostile_case{"long_numeric_reference",
                     [] { return "&#" + std::string(megabyte, '9') + ";"; },
                     [] { return std::string("\xEF\xBF\xBD"); }},
        hostile_case{"unterminated_quoted_attribute",
                     [] { return "x<a href=\"" + repeat("<a href='y'>", 100'000); },
                     [] { return std::string("x"); }},
        hostile_case{"almost_closed_script",
                     [] { return "x<script>" + repeat("</scrip</scrip <", 100'000); },
                     [] { return std::string("x"); }},
        hostile_case{"many_breaks", [] { return repeat("<br>", 300'000) + "x"; },
                     [] { return std::string("x"); }},
        hostile_case{"many_paragraphs", [] { return repeat("<p>a</p>", 200'000); },
                     [] { return repeat("a\n\n", 199'999) + "a"; }},
        hostile_case{"many_links", [] { return repeat("<a href=\"https://e.com\">x", 100'000); },
                     [] { return repeat("x<https://e.com>", 100'000); }},
        hostile_case{"many_markup_declarations", [] { return repeat("<!", megabyte / 2); },
                     [] { return std::string(); }},
        hostile_case{"many_end_tag_starts", [] { return repeat("</", megabyte / 2); },
                     [] { return std::string(); }},
        hostile_case{"long_whitespace_runs", [] { return "a" + std::string(megabyte, ' ') + "b"; },
                     [] { return std::string("a b"); }},
        hostile_case{"long_pre", [] { return "<pre>" + repeat("a\n\n\n", 200'000); },
                     [] { return repeat("a\n\n", 199'999) + "a"; }}),
    [](const testing::TestParamInfo<hostile_case>& param_info) {
        return std::string(param_info.param.name);
    });

// Random soup of HTML fragments: the output contract holds and nothing trips the sanitizers.
TEST(html_to_text, random_fragments_keep_the_contract) {
    const std::vector<std::string_view> pieces{"<",
                                               ">",
                                               "</",
                                               "<!--",
                                               "-->",
                                               "<!",
                                               "<?",
                                               "&",
                                               "&#",
                                               "&#x",
                                               "&amp",
                                               "&nbsp;",
                                               "&#0;",
                                               "&#x1F600;",
                                               ";",
                                               "\"",
                                               "'",
                                               "=",
                                               " ",
                                               "\n",
                                               "\r\n",
                                               "\t",
                                               "a",
                                               "Word",
                                               "<p>",
                                               "</p>",
                                               "<br>",
                                               "<div>",
                                               "</div>",
                                               "<ul>",
                                               "</ul>",
                                               "<ol start=3>",
                                               "</ol>",
                                               "<li>",
                                               "</li>",
                                               "<a href=\"https://e.com\">",
                                               "<a href=mailto:x@y>",
                                               "</a>",
                                               "<pre>",
                                               "</pre>",
                                               "<script>",
                                               "</script>",
                                               "<style>",
                                               "</style>",
                                               "<head>",
                                               "</head>",
                                               "<body>",
                                               "<![CDATA[",
                                               "]]>",
                                               "<o:p>",
                                               "</o:p>",
                                               "<hr>",
                                               "<table>",
                                               "<tr>",
                                               "<td>",
                                               "<h2>",
                                               "\xC2\xA0",
                                               "\xE2\x80\x8B",
                                               "\xFF",
                                               "\xC3"};
    std::mt19937 random(20240611);
    std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
    std::uniform_int_distribution<int> length(0, 60);
    for (int round = 0; round < 3000; ++round) {
        std::string html;
        for (int i = length(random); i > 0; --i) {
            html += pieces[pick(random)];
        }
        const std::string text = html_to_text(html);
        SCOPED_TRACE(html);
        expect_well_formed_text(text);
        (void)looks_like_html(html);
        if (HasFailure()) {
            break;
        }
    }
}

// The daemon converts every invitation; a typical body must cost microseconds, not
// milliseconds. The bound is loose because this also runs under sanitizers.
TEST(html_to_text, typical_body_is_fast) {
    const std::string html = teams_invite_html();
    constexpr int rounds = 2000;
    double total = 0;
    for (int i = 0; i < rounds; ++i) {
        total += seconds_to_convert(html);
    }
    EXPECT_LT(total / rounds, 500e-6);
}

}  // namespace
}  // namespace agendad::calendar
