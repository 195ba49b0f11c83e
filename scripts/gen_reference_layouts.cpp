// gen_reference_layouts — expands the structural layout descriptions in data/layouts/*.layout into
// the C++ tables behind lorakit::model::ModelIndex::reference() (built and run by
// cmake/reference_layouts.cmake; the output is never edited by hand).
//
// The description language is line based; one statement per line, `#` starts a comment.
//   include "file"                       read another description (path relative to this file)
//   let NAME = EXPR | "text" | [EXPR, …]  bind a value in the current scope
//   def NAME(a, b, …) {  …  }            define a template
//   call NAME(arg, …)                    expand it; a quoted argument is text, anything else an
//   EXPR for VAR in EXPR..EXPR {  …  }        VAR runs over [first, last) if EXPR {  …  } else {  …
//   }         `} else {` on one line layout NAME DTYPE {  …  }            a reference layout: every
//   tensor line inside belongs to it NAME [DIM, …]                        a tensor; `{EXPR}`
//   anywhere in a name or shape interpolates
// EXPR: integers, "text", variables, LIST[i], len(LIST), + - * / %, comparisons, && || !, ?:,
// parentheses. Scoping is dynamic: a template sees the variables of its caller.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using List = std::vector<int64_t>;
using Value = std::variant<int64_t, std::string, List>;

struct Line {
  std::string text;   // trimmed, comment removed
  std::string where;  // file:line
};

// ---------------------------------------------------------------------------------------------
// Reading: files become one flat list of lines with `include` resolved.

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

void read_file(const std::filesystem::path& p, std::vector<Line>& out, int depth) {
  if (depth > 16) throw Error(p.string() + ": includes nested too deeply");
  std::ifstream in(p);
  if (!in) throw Error("cannot open " + p.string());
  std::string raw;
  int n = 0;
  while (std::getline(in, raw)) {
    ++n;
    size_t hash = raw.find('#');
    std::string t = trim(hash == std::string::npos ? raw : raw.substr(0, hash));
    if (t.empty()) continue;
    std::string where = p.filename().string() + ":" + std::to_string(n);
    if (t.rfind("include ", 0) == 0) {
      std::string name = trim(t.substr(8));
      if (name.size() < 2 || name.front() != '"' || name.back() != '"')
        throw Error(where + ": include needs a quoted file name");
      read_file(p.parent_path() / name.substr(1, name.size() - 2), out, depth + 1);
      continue;
    }
    out.push_back({t, where});
  }
}

// ---------------------------------------------------------------------------------------------
// Expressions.

class Scopes {
 public:
  void push() { frames_.emplace_back(); }
  void pop() { frames_.pop_back(); }
  void set(const std::string& k, Value v) { frames_.back()[k] = std::move(v); }
  const Value& get(const std::string& k, const std::string& where) const {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      auto f = it->find(k);
      if (f != it->end()) return f->second;
    }
    throw Error(where + ": unknown variable '" + k + "'");
  }

 private:
  std::vector<std::map<std::string, Value>> frames_;
};

std::string interpolate(const std::string& s, const Scopes& sc, const std::string& where);

class Expr {
 public:
  Expr(const std::string& s, const Scopes& sc, const std::string& where)
      : s_(s), sc_(sc), where_(where) {}

  Value eval() {
    Value v = ternary();
    skip();
    if (i_ != s_.size()) fail("unexpected '" + s_.substr(i_) + "'");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& m) const {
    throw Error(where_ + ": in expression \"" + s_ + "\": " + m);
  }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool eat(const std::string& tok) {
    skip();
    if (s_.compare(i_, tok.size(), tok) != 0) return false;
    i_ += tok.size();
    return true;
  }
  int64_t num(const Value& v) const {
    if (auto p = std::get_if<int64_t>(&v)) return *p;
    if (dry_) return 0;
    fail("a number was expected");
  }

  Value ternary() {
    Value c = logic_or();
    if (!eat("?")) return c;
    // Only the chosen branch is evaluated; the other is parsed with errors suppressed, so that
    // `x > 0 ? mult[x - 1] : 1` does not index mult[-1].
    bool take_a = dry_ || num(c);
    if (!take_a) ++dry_;
    Value a = ternary();
    if (!take_a) --dry_;
    if (!eat(":")) fail("':' expected");
    if (take_a) ++dry_;
    Value b = ternary();
    if (take_a) --dry_;
    return take_a ? a : b;
  }
  Value logic_or() {
    Value v = logic_and();
    while (eat("||")) {
      Value r = logic_and();
      v = int64_t(num(v) || num(r));
    }
    return v;
  }
  Value logic_and() {
    Value v = compare();
    while (eat("&&")) {
      Value r = compare();
      v = int64_t(num(v) && num(r));
    }
    return v;
  }
  Value compare() {
    Value v = sum();
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (!eat(op)) continue;
      int64_t a = num(v), b = num(sum());
      std::string o = op;
      return int64_t(o == "=="   ? a == b
                     : o == "!=" ? a != b
                     : o == "<=" ? a <= b
                     : o == ">=" ? a >= b
                     : o == "<"  ? a < b
                                 : a > b);
    }
    return v;
  }
  Value sum() {
    Value v = product();
    for (;;) {
      if (eat("+"))
        v = num(v) + num(product());
      else if (eat("-"))
        v = num(v) - num(product());
      else
        return v;
    }
  }
  Value product() {
    Value v = unary();
    for (;;) {
      if (eat("*")) {
        v = num(v) * num(unary());
      } else if (eat("/") || eat("%")) {
        bool div = s_[i_ - 1] == '/';
        int64_t d = num(unary());
        if (d == 0 && !dry_) fail("division by zero");
        if (d == 0) d = 1;
        v = div ? num(v) / d : num(v) % d;
      } else {
        return v;
      }
    }
  }
  Value unary() {
    if (eat("-")) return -num(unary());
    if (eat("!")) return int64_t(!num(unary()));
    return primary();
  }
  Value primary() {
    skip();
    if (eat("(")) {
      Value v = ternary();
      if (!eat(")")) fail("')' expected");
      return v;
    }
    if (i_ < s_.size() && s_[i_] == '"') {  // "text with {EXPR}"
      size_t e = s_.find('"', i_ + 1);
      if (e == std::string::npos) fail("unclosed string");
      std::string body = s_.substr(i_ + 1, e - i_ - 1);
      i_ = e + 1;
      if (dry_) return std::string();
      return interpolate(body, sc_, where_);
    }
    if (i_ < s_.size() && isdigit(static_cast<unsigned char>(s_[i_]))) {
      int64_t v = 0;
      while (i_ < s_.size() && isdigit(static_cast<unsigned char>(s_[i_])))
        v = v * 10 + (s_[i_++] - '0');
      return v;
    }
    std::string id;
    while (i_ < s_.size() && (isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_'))
      id += s_[i_++];
    if (id.empty()) fail("a value was expected");
    if (id == "len") {
      if (!eat("(")) fail("'(' expected after len");
      std::string name;
      skip();
      while (i_ < s_.size() && (isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_'))
        name += s_[i_++];
      if (!eat(")")) fail("')' expected");
      const auto* l = std::get_if<List>(&sc_.get(name, where_));
      if (!l) fail(name + " is not a list");
      return int64_t(l->size());
    }
    const Value& v = sc_.get(id, where_);
    if (eat("[")) {
      int64_t k = num(ternary());
      if (!eat("]")) fail("']' expected");
      const auto* l = std::get_if<List>(&v);
      if (!l) fail(id + " is not a list");
      if (k < 0 || k >= int64_t(l->size())) {
        if (dry_) return int64_t(0);
        fail(id + "[" + std::to_string(k) + "] is out of range");
      }
      return (*l)[k];
    }
    return v;
  }

  const std::string& s_;
  const Scopes& sc_;
  std::string where_;
  size_t i_ = 0;
  int dry_ = 0;  // > 0 while parsing a ternary branch that is not taken
};

Value eval(const std::string& s, const Scopes& sc, const std::string& where) {
  return Expr(s, sc, where).eval();
}

// Replaces every {EXPR} in `s` by its value.
std::string interpolate(const std::string& s, const Scopes& sc, const std::string& where) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '{') {
      out += s[i];
      continue;
    }
    size_t e = s.find('}', i);
    if (e == std::string::npos) throw Error(where + ": unclosed '{'");
    Value v = eval(s.substr(i + 1, e - i - 1), sc, where);
    if (auto n = std::get_if<int64_t>(&v))
      out += std::to_string(*n);
    else if (auto t = std::get_if<std::string>(&v))
      out += *t;
    else
      throw Error(where + ": a list cannot be interpolated");
    i = e;
  }
  return out;
}

// Splits "a, b, c" at top-level commas (not inside quotes, braces, brackets or parentheses).
std::vector<std::string> split_args(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  bool quoted = false;
  for (char c : s) {
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == '(' || c == '[' || c == '{')) ++depth;
    if (!quoted && (c == ')' || c == ']' || c == '}')) --depth;
    if (c == ',' && depth == 0 && !quoted) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!trim(cur).empty() || !out.empty()) out.push_back(trim(cur));
  return out;
}

Value value_of(const std::string& text, const Scopes& sc, const std::string& where) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
    return interpolate(text.substr(1, text.size() - 2), sc, where);
  if (!text.empty() && text.front() == '[') {
    if (text.back() != ']') throw Error(where + ": unclosed list");
    List l;
    for (const auto& item : split_args(text.substr(1, text.size() - 2))) {
      Value v = eval(item, sc, where);
      auto n = std::get_if<int64_t>(&v);
      if (!n) throw Error(where + ": list items must be numbers");
      l.push_back(*n);
    }
    return l;
  }
  return eval(text, sc, where);
}

// ---------------------------------------------------------------------------------------------
// Execution.

struct Tensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
};

struct Layout {
  std::string name, dtype;
  std::vector<Tensor> tensors;
};

struct Def {
  std::vector<std::string> params;
  size_t begin = 0, end = 0;  // body lines [begin, end)
};

class Runner {
 public:
  explicit Runner(std::vector<Line> lines) : l_(std::move(lines)) {}

  std::vector<Layout> run() {
    sc_.push();
    exec(0, l_.size());
    if (current_) throw Error("unterminated layout");
    return std::move(layouts_);
  }

 private:
  // Index of the line closing the block opened at line `open` (a matching `}` or `} else {`).
  size_t close_of(size_t open) const {
    int depth = 1;
    for (size_t i = open + 1; i < l_.size(); ++i) {
      const std::string& t = l_[i].text;
      if (t == "}" || t == "} else {") {
        if (--depth == 0) return i;
        if (t == "} else {") ++depth;
      } else if (t.back() == '{') {
        ++depth;
      }
    }
    throw Error(l_[open].where + ": block is never closed");
  }

  static bool starts(const std::string& t, const char* kw) {
    size_t n = std::char_traits<char>::length(kw);
    return t.size() > n && t.compare(0, n, kw) == 0 && t[n] == ' ';
  }

  void exec(size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const Line& ln = l_[i];
      const std::string& t = ln.text;
      if (starts(t, "let")) {
        size_t eq = t.find('=');
        if (eq == std::string::npos) throw Error(ln.where + ": let needs '='");
        sc_.set(trim(t.substr(4, eq - 4)), value_of(trim(t.substr(eq + 1)), sc_, ln.where));
      } else if (starts(t, "def")) {
        size_t open = t.find('('), close = t.find(')');
        if (open == std::string::npos || close == std::string::npos || t.back() != '{')
          throw Error(ln.where + ": def NAME(params) {");
        Def d;
        for (const auto& p : split_args(t.substr(open + 1, close - open - 1)))
          d.params.push_back(p);
        size_t c = close_of(i);
        d.begin = i + 1, d.end = c;
        defs_[trim(t.substr(4, open - 4))] = d;
        i = c;
      } else if (starts(t, "call")) {
        size_t open = t.find('('), close = t.rfind(')');
        if (open == std::string::npos || close == std::string::npos)
          throw Error(ln.where + ": call NAME(args)");
        std::string name = trim(t.substr(5, open - 5));
        auto it = defs_.find(name);
        if (it == defs_.end()) throw Error(ln.where + ": unknown template '" + name + "'");
        auto args = split_args(t.substr(open + 1, close - open - 1));
        if (args.size() != it->second.params.size())
          throw Error(ln.where + ": " + name + " takes " +
                      std::to_string(it->second.params.size()) + " arguments");
        std::vector<Value> vals;
        for (const auto& a : args) vals.push_back(value_of(a, sc_, ln.where));
        sc_.push();
        for (size_t k = 0; k < vals.size(); ++k) sc_.set(it->second.params[k], vals[k]);
        exec(it->second.begin, it->second.end);
        sc_.pop();
      } else if (starts(t, "for")) {
        size_t in = t.find(" in "), dots = t.find(".."), c = close_of(i);
        if (in == std::string::npos || dots == std::string::npos || t.back() != '{')
          throw Error(ln.where + ": for VAR in A..B {");
        std::string var = trim(t.substr(4, in - 4));
        Value a = eval(trim(t.substr(in + 4, dots - in - 4)), sc_, ln.where);
        Value b = eval(trim(t.substr(dots + 2, t.size() - dots - 3)), sc_, ln.where);
        if (!std::holds_alternative<int64_t>(a) || !std::holds_alternative<int64_t>(b))
          throw Error(ln.where + ": loop bounds must be numbers");
        for (int64_t k = std::get<int64_t>(a); k < std::get<int64_t>(b); ++k) {
          sc_.push();
          sc_.set(var, k);
          exec(i + 1, c);
          sc_.pop();
        }
        i = c;
      } else if (starts(t, "if")) {
        if (t.back() != '{') throw Error(ln.where + ": if EXPR {");
        Value c = eval(trim(t.substr(3, t.size() - 4)), sc_, ln.where);
        auto n = std::get_if<int64_t>(&c);
        if (!n) throw Error(ln.where + ": condition must be a number");
        size_t mid = close_of(i);
        size_t last = l_[mid].text == "} else {" ? close_of(mid) : mid;
        if (*n)
          exec(i + 1, mid);
        else if (last != mid)
          exec(mid + 1, last);
        i = last;
      } else if (starts(t, "layout")) {
        if (current_) throw Error(ln.where + ": layouts do not nest");
        std::istringstream in(t.substr(7));
        Layout lay;
        std::string brace;
        in >> lay.name >> lay.dtype >> brace;
        if (brace != "{") throw Error(ln.where + ": layout NAME DTYPE {");
        size_t c = close_of(i);
        layouts_.push_back(std::move(lay));
        current_ = &layouts_.back();
        sc_.push();
        exec(i + 1, c);
        sc_.pop();
        current_ = nullptr;
        i = c;
      } else if (t == "}" || t == "} else {") {
        throw Error(ln.where + ": unexpected '" + t + "'");
      } else {
        tensor(ln);
      }
    }
  }

  void tensor(const Line& ln) {
    if (!current_) throw Error(ln.where + ": tensor outside a layout");
    std::string text = interpolate(ln.text, sc_, ln.where);
    size_t sp = text.find(' ');
    if (sp == std::string::npos) throw Error(ln.where + ": tensor line needs NAME [SHAPE]");
    Tensor ten{text.substr(0, sp), current_->dtype, {}};
    std::string shape = trim(text.substr(sp + 1));
    if (shape.size() < 2 || shape.front() != '[' || shape.back() != ']')
      throw Error(ln.where + ": bad shape '" + shape + "'");
    for (const auto& d : split_args(shape.substr(1, shape.size() - 2))) {
      if (d.empty() || d.find_first_not_of("0123456789") != std::string::npos)
        throw Error(ln.where + ": bad dimension '" + d + "'");
      ten.shape.push_back(std::stoll(d));
    }
    if (ten.shape.size() > 4) throw Error(ln.where + ": more than 4 dimensions");
    current_->tensors.push_back(std::move(ten));
  }

  std::vector<Line> l_;
  Scopes sc_;
  std::map<std::string, Def> defs_;
  std::vector<Layout> layouts_;
  Layout* current_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Output.

std::string cpp_ident(const std::string& s) {
  std::string o = "k";
  for (char c : s) o += isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return o;
}

void write_cpp(const std::vector<Layout>& layouts, const std::string& path) {
  std::ostringstream o;
  o << "// Generated by scripts/gen_reference_layouts.cpp from data/layouts. Do not edit.\n"
       "#include \"model/reference_data.hpp\"\n\n"
       "namespace lorakit::model::detail {\n\nnamespace {\n\n";
  for (const auto& l : layouts) {
    o << "constexpr RefTensor " << cpp_ident(l.name) << "[] = {\n";
    for (const auto& t : l.tensors) {
      o << "    {\"" << t.name << "\", DType::" << t.dtype << ", " << t.shape.size() << ", {";
      for (size_t k = 0; k < t.shape.size(); ++k) o << (k ? ", " : "") << t.shape[k];
      o << "}},\n";
    }
    o << "};\n\n";
  }
  o << "constexpr RefLayout kLayouts[] = {\n";
  for (const auto& l : layouts) o << "    {\"" << l.name << "\", " << cpp_ident(l.name) << "},\n";
  o << "};\n\n}  // namespace\n\n"
       "std::span<const RefLayout> reference_layouts() { return kLayouts; }\n\n"
       "}  // namespace lorakit::model::detail\n";
  // Write only when the content changes, so an unchanged description rebuilds nothing.
  std::ifstream old(path);
  std::stringstream prev;
  prev << old.rdbuf();
  if (old && prev.str() == o.str()) return;
  std::ofstream out(path, std::ios::trunc);
  out << o.str();
  if (!out) throw Error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string out, in;
    bool list = false;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-o" && i + 1 < argc)
        out = argv[++i];
      else if (a == "--list")
        list = true;
      else
        in = a;
    }
    if ((out.empty() && !list) || in.empty()) {
      std::cerr << "usage: gen_reference_layouts (-o OUT.cpp | --list) MAIN.layout\n";
      return 2;
    }
    std::vector<Line> lines;
    read_file(in, lines, 0);
    auto layouts = Runner(std::move(lines)).run();
    if (layouts.empty()) throw Error(in + ": no layout defined");
    if (list) {  // layout<TAB>name<TAB>[shape], for eyeballing a description
      for (const auto& l : layouts) {
        for (const auto& t : l.tensors) {
          std::cout << l.name << '\t' << t.name << "\t[";
          for (size_t k = 0; k < t.shape.size(); ++k) std::cout << (k ? ", " : "") << t.shape[k];
          std::cout << "]\n";
        }
      }
      return 0;
    }
    write_cpp(layouts, out);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "gen_reference_layouts: " << e.what() << "\n";
    return 1;
  }
}
