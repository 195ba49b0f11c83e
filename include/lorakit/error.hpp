// The one error family of lorakit. Every error names where it happened (file, tensor or key) and what
// was expected, so that a front end can print it as one line without adding context of its own.
#pragma once

#include <stdexcept>
#include <string>

namespace lorakit {

// Base of every exception lorakit throws on purpose.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A file's bytes break the rules of its format. `category()` is a stable, machine-readable class
// (the `error_class` column of the shared test corpora, e.g. "bad_offsets"); what() reads
// "<file>: <message>".
class FormatError : public Error {
 public:
  FormatError(std::string file, std::string category, std::string message)
      : Error(file + ": " + message),
        file_(std::move(file)),
        category_(std::move(category)),
        message_(std::move(message)) {}
  const std::string& file() const { return file_; }
  const std::string& category() const { return category_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_, category_, message_;
};

// The operating system refused an operation (open, mmap, write, fsync, rename, ...). what() names the
// path and the OS reason.
class IoError : public Error {
 public:
  using Error::Error;
};

// A caller (API or command line) asked for something that does not make sense.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// Valid input that lorakit does not implement (e.g. decoding an IQ2_XXS tensor).
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

// Tensor values that an operation cannot accept (e.g. NaN handed to a quantizer).
class ValueError : public Error {
 public:
  using Error::Error;
};

}  // namespace lorakit
