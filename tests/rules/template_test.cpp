#include "rules/Template.h"

#include <gtest/gtest.h>

namespace sb {
namespace {

using nlohmann::json;

const json kContext = {{"body", {{"name", "Иван"}, {"phone", "+79990001122"}, {"amount", 1500}, {"items", {"a", "b"}}}},
                       {"contact", {{"Название компании", "ООО Ромашка"}, {"Имя", "Анна"}}}};

TEST(Template, InterpolatesUnicodeNamesWithSpaces) {
  EXPECT_EQ(render_template("Hello {{body.name}} from {{ contact.Название компании }}", kContext),
            "Hello Иван from ООО Ромашка");
}

TEST(Template, SinglePlaceholderKeepsTheValuesType) {
  EXPECT_EQ(render_template("{{body.amount}}", kContext), 1500);
  EXPECT_EQ(render_template("{{body.items}}", kContext), json({"a", "b"}));
  EXPECT_EQ(render_template("total {{body.amount}}", kContext), "total 1500");
}

TEST(Template, RendersNestedObjectsAndArrays) {
  json tmpl = {{"to", "{{body.phone}}"}, {"parts", {"{{contact.Имя}}", 3}}};
  EXPECT_EQ(render_template(tmpl, kContext), (json{{"to", "+79990001122"}, {"parts", {"Анна", 3}}}));
}

TEST(Template, ArrayIndexesWork) { EXPECT_EQ(render_template("{{body.items.1}}", kContext), "b"); }

TEST(Template, DefaultIsUsedOnlyWhenTheValueIsMissing) {
  EXPECT_EQ(render_template("{{contact.Отчество|клиент}}", kContext), "клиент");
  EXPECT_EQ(render_template("{{contact.Имя|клиент}}", kContext), "Анна");
}

TEST(Template, MissingVariableIsAnErrorNotAnEmptyString) {
  try {
    render_template("Hi {{body.surname}}", kContext);
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.variable(), "body.surname");
    EXPECT_STREQ(e.what(), "template variable 'body.surname' has no value in this event");
  }
}

TEST(Template, SyntaxErrorsNameTheirPlace) {
  const std::vector<std::string> roots = {"contact", "event"};
  EXPECT_EQ(unknown_template_variables(
                json{{"a", "{{contact.name}} {{ event.id }}"}, {"b", {"{{contcat.name}}", "{{deal.sum|0}}"}}}, roots),
            (std::vector<std::string>{"/b/0: unknown variable 'contcat.name': a variable starts with contact, event",
                                      "/b/1: unknown variable 'deal.sum': a variable starts with contact, event"}));
  // A default does not hide a misspelt step either.
  EXPECT_EQ(
      unknown_template_variables(json("{{steps.Ofer.external_id|-}}"), {"steps"}, {"Offer"}),
      (std::vector<std::string>{": unknown step 'Ofer' in 'steps.Ofer.external_id': this rule's named steps are Offer"
                                " (a step's \"name\": \"Offer\" is read as steps.Offer.external_id)"}));
  auto errors = template_syntax_errors(json{{"a", "ok {{x}}"}, {"b", {"{{unclosed"}}, {"c", "{{}}"}});
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "/b/0: unclosed '{{' at offset 0");
  EXPECT_EQ(errors[1], "/c: empty placeholder at offset 0");
}

const json kPerson = {
    {"contact", {{"name", "<b>Анна & Co</b>"}, {"phone", "8 (999) 000-11-22"}, {"timezone", "Asia/Omsk"}}},
    {"entity", {{"fields", {{"starts_at", "2026-11-24T10:00:00Z"}, {"bad", "soon"}}}}},
    {"account", {{"country", "RU"}, {"timezone", "Europe/Moscow"}}}};

TEST(TemplateFilters, DatesAreWrittenInTheContactsZoneElseTheAccountsElseUtc) {
  EXPECT_EQ(render_template(R"({{entity.fields.starts_at|date:"%d.%m.%Y %H:%M"}})", kPerson), "24.11.2026 16:00");
  json no_zone = kPerson;
  no_zone["contact"].erase("timezone");
  EXPECT_EQ(render_template("{{entity.fields.starts_at|date}}", no_zone), "24.11.2026 13:00");
  no_zone.erase("account");
  EXPECT_EQ(render_template(R"(в {{entity.fields.starts_at | date:"%H:%M %Z"}})", no_zone), "в 10:00 UTC");
  try {
    render_template("{{entity.fields.bad|date}}", kPerson);
    FAIL() << "expected a TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.variable(), "entity.fields.bad");
    EXPECT_STREQ(e.what(),
                 "template variable 'entity.fields.bad': soon is not a time (the date filter expects RFC 3339, a "
                 "date alone, or a date and time on the person's clock)");
  }
}

// A booking's day without a time: that day on the person's clock, not UTC
// midnight (the evening before, west of Greenwich), and no invented hour.
TEST(TemplateFilters, ADateAloneIsThatDayOnThePersonsClock) {
  json person = {{"contact", {{"timezone", "America/New_York"}}}, {"entity", {{"fields", {{"day", "2026-12-10"}}}}}};
  EXPECT_EQ(render_template(R"({{entity.fields.day|date:"%d.%m.%Y"}})", person), "10.12.2026");
  EXPECT_EQ(render_template("{{entity.fields.day|date}}", person), "10.12.2026");
  person["contact"]["timezone"] = "Asia/Omsk";
  EXPECT_EQ(render_template("{{entity.fields.day|date}}", person), "10.12.2026");
  EXPECT_EQ(render_template(R"({{entity.fields.day|date:"%d.%m %H:%M"}})", person), "10.12 00:00");
}

// A booking system's local time without an offset is on the person's clock.
TEST(TemplateFilters, ALocalTimeWithoutAnOffsetIsOnThePersonsClock) {
  const json person = {{"contact", {{"timezone", "Asia/Omsk"}}},
                       {"entity", {{"fields", {{"at", "2026-11-25 16:00"}}}}}};
  EXPECT_EQ(render_template("{{entity.fields.at|date}}", person), "25.11.2026 16:00");
  EXPECT_EQ(render_template(R"({{entity.fields.at|date:"%H:%M %Z"}})", person), "16:00 +06");
}

TEST(TemplateFilters, PhonesAreNormalisedWithTheAccountsCountry) {
  EXPECT_EQ(render_template("{{contact.phone|phone}}", kPerson), "+79990001122");
  EXPECT_EQ(render_template(R"({{contact.phone|phone:"international"}})", kPerson), "+7 999 000-11-22");
  json abroad = kPerson;
  abroad.erase("account");
  try {
    render_template("{{contact.phone|phone}}", abroad);
    FAIL() << "expected a TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_STREQ(e.what(),
                 "template variable 'contact.phone': '8 (999) 000-11-22' is not a valid phone number (no "
                 "account.country for numbers without +)");
  }
  EXPECT_EQ(format_phone("+49 30 901820", ""), "+4930901820");
  EXPECT_FALSE(format_phone("+7 123", "RU"));
}

TEST(TemplateFilters, HtmlTargetsEscapeWhatTheEventSays) {
  const json params = {{"html", "<p>Hello {{contact.name}}, {{contact.name|raw}}, {{contact.missing|<гость>}}</p>"},
                       {"text", "Hello {{contact.name}}"}};
  const json out = render_template(params, kPerson, {"/html"});
  EXPECT_EQ(out["html"], "<p>Hello &lt;b&gt;Анна &amp; Co&lt;/b&gt;, <b>Анна & Co</b>, &lt;гость&gt;</p>");
  EXPECT_EQ(out["text"], "Hello <b>Анна & Co</b>");
  EXPECT_EQ(render_template("{{contact.name|html}}", kPerson), "&lt;b&gt;Анна &amp; Co&lt;/b&gt;");
  const json schema = json::parse(R"({"type": "object", "properties": {
      "subject": {"type": "string"}, "html": {"type": "string", "contentMediaType": "text/html"},
      "parts": {"type": "object", "properties": {"body": {"contentMediaType": "text/html"}}}}})");
  EXPECT_EQ(html_targets(schema), (std::set<std::string>{"/html", "/parts/body"}));
}

TEST(TemplateFilters, DefaultsStayAsWrittenAndUnknownFiltersAreErrors) {
  EXPECT_EQ(render_template("{{contact.missing|a|b}}", kPerson), "a|b");  // not a filter: the whole default
  EXPECT_EQ(render_template(R"({{contact.missing|default:"клиент"}})", kPerson), "клиент");
  EXPECT_EQ(render_template(R"({{contact.missing|default:"+7 999 000 11 22"|phone}})", kPerson), "+7 999 000 11 22");
  auto errors = template_syntax_errors(json{{"t", "{{contact.name|html|upcase}}"}});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "/t: unknown filter 'upcase' in '{{contact.name|html|upcase}}': filters are date, phone, html, raw, "
            "first_name, last_name, or and default (with an argument in double quotes: date:\"%d.%m.%Y\", "
            "or:\"contact.responsible.0.name\")");
}

// A default that reads as a misspelt filter, or a name with a filter's
// argument, is an error before it runs: {{contact.name|frist_name}} would
// print the whole name, date:"%Q" a number.
TEST(TemplateFilters, AMisspeltFilterIsNotTakenForADefault) {
  const auto error_of = [](const std::string& text) {
    const auto errors = template_syntax_errors(json{{"t", text}}, "", /*lint=*/true);
    return errors.empty() ? std::string() : errors.front();
  };
  EXPECT_EQ(error_of("{{contact.name|frist_name}}"),
            "/t: unknown filter 'frist_name' in '{{contact.name|frist_name}}' (did you mean 'first_name'?): filters "
            "are date, phone, html, raw, first_name, last_name, or and default; a default text that reads as a "
            "filter's name is written default:\"frist_name\"");
  EXPECT_NE(error_of(R"({{data.at|dte:"%d.%m"}})").find("(did you mean 'date'?)"), std::string::npos);
  EXPECT_NE(error_of(R"({{data.at|when:"%d.%m"}})").find("unknown filter 'when'"), std::string::npos);
  EXPECT_NE(error_of(R"({{data.at|date:"%Q"}})").find("'%Q' in '{{data.at|date:\"%Q\"}}' is not a date conversion"),
            std::string::npos);
  // Defaults as admins write them, and every conversion strftime knows.
  for (const std::string ok : {"{{contact.name|клиент}}", "{{contact.name|customer}}", "{{contact.name|друг мой}}",
                               R"({{data.at|date:"%d.%m.%Y %H:%M, %A %e %B, %Ey %OH %%"}})", "{{contact.name|ok}}"})
    EXPECT_EQ(error_of(ok), "") << ok;
  EXPECT_EQ(render_template(R"({{contact.missing|default:"frist_name"}})", kPerson), "frist_name");
  // Rendered (a stored version's step), it is the default it always was.
  EXPECT_EQ(render_template("{{contact.missing|frist_name}}", kPerson), "frist_name");
  EXPECT_TRUE(template_syntax_errors(json{{"t", "{{contact.name|frist_name}}"}}).empty());
}

TEST(TemplateVariables, ShortNamesAsTheReferenceCrmsWriteThem) {
  std::map<std::string, std::string> variables = {{"Услуга", "entity.fields.service"}};
  variables.insert(default_template_variables().begin(), default_template_variables().end());
  const std::vector<std::string> roots = {"contact", "entity", "account", "id"};
  const json params = {{"text", "Привет, {{Имя|клиент}}! Добро пожаловать в {{ Название компании }}."},
                       {"task", "{{Имя}} интересуется {{Услуга}}; город {{Город}}, адрес {{address_deal}}, {{id}}"},
                       {"n", 3}};
  const json expanded = expand_template_variables(params, variables, roots);
  EXPECT_EQ(expanded["text"], "Привет, {{contact.name|клиент}}! Добро пожаловать в {{account.name}}.");
  EXPECT_EQ(expanded["task"],
            "{{contact.name}} интересуется {{entity.fields.service}}; город {{contact.fields.Город}}, адрес "
            "{{entity.fields.address}}, {{id}}");
  EXPECT_EQ(expanded["n"], 3);
  const json context = {{"contact", {{"name", "Анна"}}}, {"account", {{"name", "Школа №1"}}}};
  EXPECT_EQ(render_template(expanded["text"], context), "Привет, Анна! Добро пожаловать в Школа №1.");
  // A CRM sends "" for a name it lacks: the default covers it too.
  const json nameless = {{"contact", {{"name", " "}}}, {"account", {{"name", "Школа №1"}}}};
  EXPECT_EQ(render_template(expanded["text"], nameless), "Привет, клиент! Добро пожаловать в Школа №1.");
  EXPECT_EQ(render_template("[{{contact.name}}]", nameless), "[ ]");  // without a default, as it is
  // Before filters that would refuse an empty value.
  const json blank = {{"entity", {{"fields", {{"at", ""}, {"phone", ""}}}}}};
  EXPECT_EQ(render_template(R"({{entity.fields.at|date|default:"не указана"}})", blank), "не указана");
  EXPECT_EQ(render_template(R"({{entity.fields.phone|phone|default:"нет"}})", blank), "нет");
}

// SendPulse's {{firstName}}: the first word of the contact's name; {{lastName}} the rest.
TEST(TemplateVariables, FirstAndLastNameAreTheWordsOfTheContactsName) {
  const std::vector<std::string> roots = {"contact", "entity", "account"};
  const json expanded =
      expand_template_variables(json("Здравствуйте, {{firstName}} {{lastName}}! {{firstName|default:\"друг\"}}"),
                                default_template_variables(), roots);
  EXPECT_EQ(render_template(expanded, {{"contact", {{"name", "  Анна Мария Петрова "}}}}),
            "Здравствуйте, Анна Мария Петрова! Анна");
  EXPECT_EQ(render_template(expanded, {{"contact", {{"name", "Анна"}}}}), "Здравствуйте, Анна ! Анна");
  const json nameless =
      expand_template_variables(json("{{firstName|default:\"друг\"}}"), default_template_variables(), roots);
  EXPECT_EQ(render_template(nameless, {{"contact", json::object()}}), "друг");
  // A plain default, as for any short name.
  const json plain = expand_template_variables(json("{{firstName|клиент}}"), default_template_variables(), roots);
  EXPECT_EQ(render_template(plain, {{"contact", json::object()}}), "клиент");
  EXPECT_EQ(render_template(plain, {{"contact", {{"name", "Анна Петрова"}}}}), "Анна");
  // Filters after it stay filters; a default holding '|' is one default.
  const json filtered = expand_template_variables(json("{{firstName|html|default:\"друг\"}} {{firstName|a|b}}"),
                                                  default_template_variables(), roots);
  EXPECT_TRUE(template_syntax_errors(filtered).empty());
  EXPECT_EQ(render_template(filtered, {{"contact", json::object()}}), "друг a|b");
  EXPECT_EQ(render_template(filtered, {{"contact", {{"name", "<Анна>"}}}}), "&lt;Анна&gt; <Анна>");
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

// MatrixCRM's "Ответственный: {{Менеджер}}": the deal's responsible manager,
// else the client's when the event names no deal (a client registered).
TEST(TemplateVariables, TheManagerIsTheEntitysResponsibleElseTheContacts) {
  const std::vector<std::string> roots = {"contact", "entity", "account"};
  const json expanded = expand_template_variables(json("Ответственный: {{Менеджер}}. {{Менеджер|менеджер}}"),
                                                  default_template_variables(), roots);
  EXPECT_TRUE(unknown_template_variables(expanded, roots).empty());
  const json both = {{"contact", {{"responsible", {{{"name", "Ольга"}}}}}},
                     {"entity", {{"responsible", {{{"name", "Пётр"}}}}}}};
  EXPECT_EQ(render_template(expanded, both), "Ответственный: Пётр. Пётр");
  const json contact_only = {{"contact", {{"responsible", {{{"name", "Ольга"}}}}}}};
  EXPECT_EQ(render_template(expanded, contact_only), "Ответственный: Ольга. Ольга");
  const json nobody = {{"contact", {{"name", "Анна"}}}};
  EXPECT_THROW(
      render_template(expand_template_variables(json("{{Менеджер}}"), default_template_variables(), roots), nobody),
      TemplateError);
  // A manager named "" (a CRM's way of saying none), and none to fall back on: "" as before.
  const json blank = {{"entity", {{"responsible", {{{"name", ""}}}}}}};
  EXPECT_EQ(render_template(expanded, blank), "Ответственный: . менеджер");
  EXPECT_EQ(render_template(
                expand_template_variables(json("{{Менеджер|менеджер}}"), default_template_variables(), roots), nobody),
            "менеджер");
}

// MatrixCRM's task and SMS texts: "зарегистрировался {{Дата}}" is the
// event's day, "запись завтра в {{Время}}" the booking's time, both in the
// contact's zone; {{Услуга}} and {{Специалист}} are the booking's.
TEST(TemplateVariables, DateTimeServiceAndSpecialistAreTheBookingsElseTheEvents) {
  const std::vector<std::string> roots = {"contact", "entity", "account", "event"};
  const json expanded =
      expand_template_variables(json("{{Имя}} {{lastName}}: {{Услуга}} {{Дата}} в {{Время}}, {{Специалист}}"),
                                default_template_variables(), roots);
  EXPECT_TRUE(unknown_template_variables(expanded, roots).empty());
  const json booking = {
      {"event", {{"time", "2026-12-01T09:00:00Z"}}},
      {"contact", {{"name", "Анна Петрова"}, {"timezone", "Europe/Moscow"}}},
      {"entity",
       {{"fields", {{"starts_at", "2026-12-10T07:30:00Z"}, {"service", "Стрижка"}, {"specialist", "Ирина"}}},
        {"responsible", {{{"name", "Олег"}}}}}}};
  EXPECT_EQ(render_template(expanded, booking), "Анна Петрова Петрова: Стрижка 10.12.2026 в 10:30, Ирина");
  json no_specialist = booking;
  no_specialist["entity"]["fields"].erase("specialist");
  EXPECT_EQ(render_template(json("{{entity.fields.specialist|or:\"entity.responsible.0.name\"}}"), no_specialist),
            "Олег");
  EXPECT_EQ(render_template(expand_template_variables(json("{{Специалист}}"), default_template_variables(), roots),
                            no_specialist),
            "Олег");
  const json registered = {{"event", {{"time", "2026-12-01T21:30:00Z"}}},
                           {"contact", {{"name", "Анна"}, {"timezone", "Asia/Omsk"}}}};
  EXPECT_EQ(render_template(expand_template_variables(json("зарегистрировался {{Дата}} в {{Время}}"),
                                                      default_template_variables(), roots),
                            registered),
            "зарегистрировался 02.12.2026 в 03:30");
  // No booking: a contact's own field of that name, as before these were built in.
  const json client = {{"contact", {{"fields", {{"Услуга", "Маникюр"}, {"Специалист", "Ольга"}}}}}};
  EXPECT_EQ(
      render_template(
          expand_template_variables(json("{{Услуга}}, {{Специалист}}"), default_template_variables(), roots), client),
      "Маникюр, Ольга");
  // The config's own meaning wins: a CRM whose bookings keep the time elsewhere.
  std::map<std::string, std::string> variables = {{"Время", "entity.fields.at"}};
  variables.insert(default_template_variables().begin(), default_template_variables().end());
  EXPECT_EQ(expand_template_variables(json("{{Время}}"), variables, roots), json("{{entity.fields.at}}"));
}

TEST(TemplateFilters, OrReadsAnotherPathWhenTheValueIsMissingOrEmpty) {
  const json context = {{"contact", {{"name", ""}, {"fields", {{"nick", "Аня"}}}}}, {"entity", {{"title", "Заказ"}}}};
  EXPECT_EQ(render_template(json("{{contact.name|or:\"contact.fields.nick\"}}"), context), "Аня");
  EXPECT_EQ(render_template(json("{{entity.name|or:\"contact.name\"|or:\"entity.title\"}}"), context), "Заказ");
  EXPECT_EQ(render_template(json("{{entity.name|or:\"contact.x\"|default:\"—\"}}"), context), "—");
  EXPECT_EQ(render_template(json("{{entity.title|or:\"contact.fields.nick\"}}"), context), "Заказ");
  EXPECT_FALSE(template_syntax_errors(json("{{contact.name|or}}")).empty());
  EXPECT_EQ(unknown_template_variables(json("{{contact.name|or:\"contcat.fields.nick\"}}"), {"contact"}).size(), 1u);
  // The other path is checked as any: a step of the rule, no empty segment.
  EXPECT_EQ(
      unknown_template_variables(json("{{contact.name|or:\"steps.Tpyo.output\"}}"), {"contact", "steps"}, {"Typo"})
          .size(),
      1u);
  EXPECT_EQ(unknown_template_variables(json("{{contact.name|or:\"contact..nick\"}}"), {"contact"}).size(), 1u);
  EXPECT_EQ(render_template(json("{{contact.name|or:\" contact.fields.nick \"}}"), context), "Аня");
}

}  // namespace
}  // namespace sb
