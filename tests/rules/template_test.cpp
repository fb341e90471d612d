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
            (std::vector<std::string>{"/b/0: unknown variable 'contcat.name': a variable starts with contact, event"}));
  auto errors = template_syntax_errors(json{{"a", "ok {{x}}"}, {"b", {"{{unclosed"}}, {"c", "{{}}"}});
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "/b/0: unclosed '{{' at offset 0");
  EXPECT_EQ(errors[1], "/c: empty placeholder at offset 0");
}

}  // namespace
}  // namespace sb
