// The environment's built-in filters (`x | f`), tests (`x is t`) and methods of Python's str,
// dict and list (`s.strip()`), as jinja2 3.1 and transformers' chat-template environment
// define them. Mutating methods (list.append, dict.update, ...) are refused as jinja2's
// ImmutableSandboxedEnvironment refuses them.
//
// Stateless functions; they throw RenderError on bad arguments and charge the render budget
// for what they create.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_BUILTINS_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_BUILTINS_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/chat_template/sandbox.h"
#include "text/chat_template/value.h"

namespace tessera::chat_template {

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The argument at position i, or given by name; nullptr when neither.
  const Value* Get(size_t i, std::string_view name) const;
  // Throws naming fn when more than n positional arguments, or a keyword outside `known`.
  void Check(std::string_view fn, size_t n, std::initializer_list<std::string_view> known) const;
};

// Throws for an unknown filter ("No filter named 'x'.").
Value ApplyFilter(std::string_view name, const Value& v, const CallArgs& args,
                  RenderBudget& budget);
bool HasFilter(std::string_view name);
// Throws for an unknown test ("No test named 'x'.").
bool ApplyTest(std::string_view name, const Value& v, const CallArgs& args);
bool HasTest(std::string_view name);
// Whether obj's type has this method (safe or not), as Python's getattr would find it.
bool HasMethod(const Value& obj, std::string_view name);
// Whether the sandbox refuses it (it would mutate obj).
bool IsMutatingMethod(const Value& obj, std::string_view name);
// obj.name(args): std::nullopt when obj has no such method.
std::optional<Value> CallMethod(const Value& obj, std::string_view name, const CallArgs& args,
                                RenderBudget& budget);

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_BUILTINS_H_
