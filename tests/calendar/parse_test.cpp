// Placeholder: the parser's unit tests land in the next commit.
#include <gtest/gtest.h>
