// Parser: tokens to the syntax tree, for the jinja2 statements and expressions chat templates
// use (if/elif/else, for with else/filter/unpacking, set and block set, macro, break/continue,
// with, filter blocks, generation and block; the full expression grammar with jinja2's
// precedence). Tags that would read other files (include, import, extends) are refused.
//
// Nesting is bounded by the sandbox limits, so no template can make the recursive parser or
// evaluator overflow the stack. Stateless function; thread-safe.
#ifndef TESSERA_TEXT_CHAT_TEMPLATE_PARSER_H_
#define TESSERA_TEXT_CHAT_TEMPLATE_PARSER_H_

#include <vector>

#include "text/chat_template/ast.h"
#include "text/chat_template/lexer.h"
#include "text/chat_template/sandbox.h"

namespace tessera::chat_template {

// Throws RenderError (kSyntax, or kLimit for nesting) naming the line.
Body ParseTemplate(const std::vector<Token>& tokens, const SandboxLimits& limits);

}  // namespace tessera::chat_template

#endif  // TESSERA_TEXT_CHAT_TEMPLATE_PARSER_H_
