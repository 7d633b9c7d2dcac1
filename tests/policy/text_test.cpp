// Text analysis behind the signals: folding, what counts as the organizer's own words, agendas,
// check-in phrasing and lures, in the seven languages agendad reads. Pure table tests.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "policy/lexicon.h"
#include "policy/text.h"

namespace {

namespace text = agendad::policy::text;
namespace lexicon = agendad::policy::lexicon;

TEST(fold, lower_cases_removes_diacritics_and_punctuation) {
    EXPECT_EQ(text::fold("Touch-base re: Q1 — Café?"), "touch base re q1 cafe");
    EXPECT_EQ(text::fold("Grüße, Straße, ÀÉÎÕÜ"), "grusse strasse aeiou");
    EXPECT_EQ(text::fold("Pôr a conversa em dia; Almoço?"), "por a conversa em dia almoco");
    EXPECT_EQ(text::fold("I'm in town — coffee?"), "i m in town coffee");
    EXPECT_EQ(text::fold("Łódź Œuvre"), "lodz oeuvre");
    EXPECT_EQ(text::fold("cafe\xCC\x81"), "cafe");  // decomposed é
    EXPECT_EQ(text::fold("  \t"), "");
    EXPECT_EQ(text::fold("\xFF\xFE broken"),
              "broken");  // invalid UTF-8 is a separator, not a crash
}

TEST(lexicon, every_entry_is_written_folded) {
    using list_fn = std::span<const lexicon::phrase> (*)();
    for (list_fn list :
         {lexicon::checkin_phrases, lexicon::generic_meeting_words, lexicon::social_words,
          lexicon::filler_words, lexicon::lure_phrases, lexicon::agenda_headings,
          lexicon::attachment_words, lexicon::greetings, lexicon::signoffs, lexicon::legal_markers,
          lexicon::pleasantries, lexicon::discussion_verbs, lexicon::join_block_markers,
          lexicon::join_line_markers, lexicon::join_tail_markers, lexicon::invoice_words,
          lexicon::payment_pressure_words}) {
        for (const auto& p : list()) {
            EXPECT_EQ(text::fold(p.text), p.text)
                << "entry '" << p.text << "' is not folded, so it never matches";
            EXPECT_FALSE(p.lang.empty()) << p.text;
        }
    }
}

TEST(lexicon, check_in_phrasing_covers_seven_languages) {
    std::set<std::string_view> languages;
    for (const auto& p : lexicon::checkin_phrases()) languages.insert(p.lang);
    for (const char* lang : {"en", "de", "fr", "es", "it", "nl", "pt"})
        EXPECT_TRUE(languages.count(lang)) << lang;
}

// ---------------------------------------------------------------------------------------------
// Check-in phrasing in subjects.

struct subject_row {
    const char* name;
    const char* subject;
    bool checkin;
};

void PrintTo(const subject_row& r, std::ostream* os) {
    *os << r.name;
}

class checkin : public ::testing::TestWithParam<subject_row> {};

TEST_P(checkin, subject) {
    const auto& r = GetParam();
    const std::vector<std::string> names = {"dana", "kelly", "owens", "acmecloud", "contoso"};
    const auto found = text::find_checkin(r.subject, names);
    EXPECT_EQ(found.has_value(), r.checkin)
        << r.subject << (found ? " matched: " + found->explanation : "");
    if (found) {
        EXPECT_NE(found->explanation.find('\''), std::string::npos);
    }
}

INSTANTIATE_TEST_SUITE_P(
    subjects, checkin,
    ::testing::Values(subject_row{"en_checking_in", "Checking in", true},
                      subject_row{"en_weekly_check_in", "Weekly check-in", true},
                      subject_row{"en_touch_base_with_topic", "Touch base re: Q1", true},
                      subject_row{"en_catch_up", "Catch-up", true},
                      subject_row{"en_quick_call", "Quick call", true},
                      subject_row{"en_quick_question", "Quick question", true},
                      subject_row{"en_sync_alone", "Sync?", true},
                      subject_row{"en_connect", "Let's connect", true},
                      subject_row{"en_fifteen_minutes", "15 min?", true},
                      subject_row{"en_coffee", "Coffee?", true},
                      subject_row{"en_lunch_in_town", "Lunch when I'm in town?", true},
                      subject_row{"en_drinks", "Drinks after work?", true},
                      subject_row{"en_names_only_with_call", "Call: Dana / Kelly", true},
                      subject_row{"de_kurzer_austausch", "Kurzer Austausch", true},
                      subject_row{"de_kurze_abstimmung", "Kurze Abstimmung", true},
                      subject_row{"de_kaffee", "Auf einen Kaffee?", true},
                      subject_row{"fr_petit_point", "Petit point", true},
                      subject_row{"fr_faire_le_point", "Faire le point", true},
                      subject_row{"fr_cafe", "Un café ?", true},
                      subject_row{"es_ponernos_al_dia", "Ponernos al día", true},
                      subject_row{"es_llamada_rapida", "Llamada rápida", true},
                      subject_row{"it_due_chiacchiere", "Due chiacchiere", true},
                      subject_row{"it_aggiornamento_veloce", "Aggiornamento veloce", true},
                      subject_row{"it_pranzo", "Pranzo insieme?", true},
                      subject_row{"nl_even_bijpraten", "Even bijpraten", true},
                      subject_row{"nl_kort_overleg", "Kort overleg", true},
                      subject_row{"nl_koffie", "Koffie?", true},
                      subject_row{"pt_bate_papo", "Bate-papo rápido", true},
                      subject_row{"pt_por_a_conversa_em_dia", "Pôr a conversa em dia", true},
                      subject_row{"pt_almoco", "Almoço?", true},
                      // A stated purpose is not check-in phrasing.
                      subject_row{"en_investor_dinner", "HOLD: Investor dinner", false},
                      subject_row{"en_board_dinner_logistics", "Board dinner logistics", false},
                      subject_row{"en_board_prep_call", "Board prep call", false},
                      subject_row{"en_one_on_one", "1:1 Dana / Raj", false},
                      subject_row{"en_budget", "FY27 budget review", false},
                      subject_row{"en_team_offsite", "Team offsite logistics", false},
                      subject_row{"en_pipeline_review", "Q1 pipeline review", false},
                      subject_row{"en_names_only", "Dana <> Kelly", false},
                      subject_row{"de_vertrag", "Vertragsverlängerung 2027", false},
                      subject_row{"fr_budget", "Revue du budget", false},
                      subject_row{"nl_kickoff", "Kick-off migratie", false},
                      subject_row{"pt_contrato", "Contrato de licenciamento", false},
                      subject_row{"connector_is_not_connect", "Connector roadmap review", false},
                      subject_row{"empty", "", false}),
    [](const auto& row_info) { return std::string(row_info.param.name); });

// ---------------------------------------------------------------------------------------------
// Agendas.

constexpr const char* teams_block =
    "________________________________________________________________________________\n"
    "Microsoft Teams meeting\n"
    "Join on your computer, mobile app or room device\n"
    "Click here to join the meeting<https://teams.microsoft.com/l/meetup-join/19%3ameeting_x>\n"
    "Meeting ID: 245 118 905 331\n"
    "Passcode: 7xQm2P\n"
    "Download Teams<https://www.microsoft.com/microsoft-teams/download-app> | Join on the "
    "web<https://x>\n"
    "Learn More<https://aka.ms/JoinTeamsMeeting> | Meeting options<https://teams.microsoft.com/x>\n"
    "________________________________________________________________________________";

constexpr const char* zoom_block =
    "Ethan Brooks is inviting you to a scheduled Zoom meeting.\n\nJoin Zoom Meeting\n"
    "https://us02web.zoom.us/j/81234567890?pwd=QWxhZGRp\n\nMeeting ID: 812 3456 7890\nPasscode: "
    "551204\n\n---\n\n"
    "One tap mobile\n+16699006833,,81234567890#,,,,*551204# US (San Jose)\n\nDial by your "
    "location\n"
    "        +1 669 900 6833 US (San Jose)\nMeeting ID: 812 3456 7890\n"
    "Find your local number: https://us02web.zoom.us/u/kdXyZ12";

constexpr const char* meet_block =
    "Join with Google Meet\nhttps://meet.google.com/abc-defg-hij\n\nJoin by phone\n"
    "(US) +1 318-555-0142 PIN: 998 112 443#\n\nMore phone numbers: "
    "https://tel.meet/abc-defg-hij?pin=998112443\n\n"
    "Learn more about Meet at: https://support.google.com/a/users/answer/9282720";

struct agenda_row {
    const char* name;
    std::string description;
    bool attachments;
    bool agenda;
};

void PrintTo(const agenda_row& r, std::ostream* os) {
    *os << r.name;
}

class agenda : public ::testing::TestWithParam<agenda_row> {};

TEST_P(agenda, description) {
    const auto& r = GetParam();
    const auto a = text::analyze_description(r.description, r.attachments);
    EXPECT_EQ(a.agenda, r.agenda) << a.evidence << "\n--- organizer text ---\n" << a.organizer_text;
    EXPECT_FALSE(a.evidence.empty()) << "every answer carries its evidence";
}

INSTANTIATE_TEST_SUITE_P(
    descriptions, agenda,
    ::testing::Values(
        agenda_row{"heading_with_numbered_items", "Agenda:\n1. Pricing\n2. Roadmap", false, true},
        agenda_row{"heading_inline",
                   "Agenda: pricing, renewal terms and the EU data residency question", false,
                   true},
        agenda_row{"standing_agenda", "Standing agenda: metrics, decisions, risks.", false, true},
        agenda_row{"german_tagesordnung", "Tagesordnung:\n- Budget 2027\n- Personalplanung", false,
                   true},
        agenda_row{"french_ordre_du_jour", "Ordre du jour :\n1) Bilan T3\n2) Objectifs 2027", false,
                   true},
        agenda_row{"spanish_orden_del_dia", "Orden del día:\n- Revisión del contrato\n- Precios",
                   false, true},
        agenda_row{"italian_ordine_del_giorno", "Ordine del giorno:\n1. Budget\n2. Fornitori",
                   false, true},
        agenda_row{"dutch_agenda", "Agenda:\n- Planning Q1\n- Bezetting", false, true},
        agenda_row{"portuguese_pauta", "Pauta:\n1. Contrato\n2. Cronograma", false, true},
        agenda_row{"list_without_heading",
                   "- Review the Q3 audit findings\n- Agree remediation owners", false, true},
        agenda_row{"one_concrete_sentence",
                   "We would review the three open findings from the October audit, agree on "
                   "owners for the "
                   "remediation, and confirm the date of the follow-up inspection.",
                   false, true},
        agenda_row{"two_sentences_of_subject_matter",
                   "We distribute industrial sensors across the Nordics and are looking for a US "
                   "platform partner. "
                   "We would walk through our channel volumes and the integration requirements.",
                   false, true},
        agenda_row{"agenda_after_join_text",
                   std::string(zoom_block) + "\n\nAgenda:\n1. Budget\n2. Hiring", false, true},
        agenda_row{"items_that_share_words_with_join_text",
                   "Agenda:\n- PIN reset process for retail customers\n- Password policy changes",
                   false, true},
        agenda_row{"html_converted_list",
                   "Agenda\n- Your current cash-positioning process\n- Next steps", false, true},
        agenda_row{"attached_agenda_with_attachment", "Agenda attached.", true, true},
        agenda_row{"attached_agenda_without_attachment", "Agenda attached.", false, false},
        agenda_row{"agenda_tbd", "Agenda: TBD", false, false},
        agenda_row{"purpose_without_content", "Purpose: to connect", false, false},
        agenda_row{"empty", "", false, false}, agenda_row{"teams_only", teams_block, false, false},
        agenda_row{"zoom_only", zoom_block, false, false},
        agenda_row{"meet_only", meet_block, false, false},
        agenda_row{
            "pleasantries_and_teams",
            std::string(
                "Hi Dana,\n\nHope you're well! Would love to grab 15 minutes to connect.\n\nBest,\n"
                "Chris\n\n") +
                teams_block,
            false, false},
        agenda_row{"hiring_pitch", "Hi Dana - saw Contoso is hiring SDRs. Worth a quick chat?",
                   false, false},
        agenda_row{"one_sentence_pitch_and_a_time_request",
                   "Our platform helps revenue teams forecast 30% more accurately. Would love 15 "
                   "minutes to show "
                   "you.",
                   false, false},
        agenda_row{"coffee_in_your_area", "I'll be in your area next Tuesday - coffee?", false,
                   false},
        agenda_row{"signature_only",
                   "Best regards,\nKelly Owens\nVP Sales | AcmeCloud\n+1 555 0100", false, false},
        agenda_row{"legal_footer_only",
                   "CONFIDENTIALITY NOTICE: This e-mail and any attachments are for the exclusive "
                   "and confidential "
                   "use of the intended recipient.",
                   false, false},
        agenda_row{
            "german_greeting_and_footer",
            "Hallo Sanne,\n\nich würde mich über 15 Minuten freuen.\n\nViele Grüße\nJonas\n\nDiese "
            "E-Mail "
            "enthält vertrauliche Informationen und ist ausschließlich für den Empfänger bestimmt.",
            false, false}),
    [](const auto& row_info) { return std::string(row_info.param.name); });

TEST(agenda, join_text_is_set_aside_and_named) {
    for (const auto& [block, service] :
         {std::pair{teams_block, "Microsoft Teams"}, std::pair{zoom_block, "Zoom"},
          std::pair{meet_block, "Google Meet"}}) {
        const auto a = text::analyze_description(block, false);
        EXPECT_TRUE(a.organizer_text.empty()) << service << " left: " << a.organizer_text;
        EXPECT_GT(a.join_lines, 3) << service;
        EXPECT_NE(std::find(a.join_services.begin(), a.join_services.end(), service),
                  a.join_services.end())
            << service;
        EXPECT_NE(a.evidence.find("only online-meeting join text"), std::string::npos)
            << a.evidence;
    }
}

TEST(agenda, the_organizers_words_survive_greeting_signature_and_footer) {
    const auto a = text::analyze_description(
        "Hello Dana,\n\nWe distribute industrial sensors.\n\nKind regards,\nHenrik\nSales "
        "Director\n\n"
        "CONFIDENTIALITY NOTICE: This e-mail and any attachments are for the exclusive use of the "
        "recipient.",
        false);
    EXPECT_EQ(a.organizer_text, "We distribute industrial sensors.");
    EXPECT_TRUE(a.greeting_removed);
    EXPECT_TRUE(a.signature_removed);
    EXPECT_TRUE(a.footer_removed);
}

TEST(agenda, a_sentence_that_starts_with_thanks_is_not_a_signature) {
    const auto a =
        text::analyze_description("Thanks for making time.\nAgenda:\n1. Budget\n2. Hiring", false);
    EXPECT_TRUE(a.agenda) << a.evidence;
}

TEST(agenda, huge_and_hostile_descriptions_are_handled) {
    std::string huge;
    for (int i = 0; i < 20000; ++i)
        huge += "- Review budget line " + std::to_string(i) + " with finance\n";
    EXPECT_TRUE(text::analyze_description(huge, false).agenda);
    EXPECT_FALSE(text::analyze_description(std::string(200000, '_'), false).agenda);
    EXPECT_FALSE(text::analyze_description(std::string(100000, '<'), false).agenda);
}

// ---------------------------------------------------------------------------------------------
// Lures.

struct lure_row {
    const char* name;
    const char* subject;
    const char* body;
    bool lure;
};

void PrintTo(const lure_row& r, std::ostream* os) {
    *os << r.name;
}

class lure : public ::testing::TestWithParam<lure_row> {};

TEST_P(lure, text) {
    const auto& r = GetParam();
    const auto found = text::find_lure(r.subject, r.body);
    EXPECT_EQ(found.has_value(), r.lure)
        << r.subject << " / " << r.body << (found ? " matched: " + found->explanation : "");
}

INSTANTIATE_TEST_SUITE_P(
    lures, lure,
    ::testing::Values(
        lure_row{"gift_card", "Congratulations! Claim your $500 gift card", "", true},
        lure_row{"selected", "Reminder", "You have been selected! Claim your reward now.", true},
        lure_row{"invoice_overdue_free_wording", "Invoice #INV-20931 overdue – final notice",
                 "Your invoice INV-20931 (USD 14,880.00) is 45 days overdue.", true},
        lure_row{"invoice_overdue_in_body_only", "Account",
                 "Your invoice INV-1 is 45 days overdue.", true},
        lure_row{"spanish_gift_card", "¡Tarjeta regalo de 300 €!", "", true},
        lure_row{"portuguese_boleto", "Boleto vencido", "", true},
        lure_row{"german_mahnung", "Mahnung: Rechnung 4711", "", true},
        lure_row{"vendor_talking_about_invoicing", "Invoice automation demo",
                 "Agenda: how Fintrail automates invoice matching", false},
        lure_row{"open_questions_about_an_invoice_de", "Offene Fragen zur Rechnung", "", false},
        lure_row{"plain_meeting", "Quarterly business review", "Agenda: usage, renewal", false}),
    [](const auto& row_info) { return std::string(row_info.param.name); });

}  // namespace
