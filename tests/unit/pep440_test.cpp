// PEP 440 against the PEP's own examples (https://peps.python.org/pep-0440/).
#include "compat/pep440.hpp"

#include <gtest/gtest.h>

using namespace sd35;

namespace {

pep440::Version V(const char* s) {
  auto v = pep440::parse_version(s);
  EXPECT_TRUE(v.has_value()) << s;
  return v ? *v : pep440::Version{};
}

bool in(const char* version, const char* spec, bool pre = false) {
  auto s = pep440::parse_specifiers(spec);
  EXPECT_TRUE(s.has_value()) << spec;
  return s && s->contains(V(version), pre);
}

}  // namespace

TEST(Pep440, SummaryOfPermittedSuffixesAndRelativeOrdering) {
  // The ordering example from the PEP's "Summary of permitted suffixes and relative ordering".
  const char* order[] = {"1.dev0",
                         "1.0.dev456",
                         "1.0a1",
                         "1.0a2.dev456",
                         "1.0a12.dev456",
                         "1.0a12",
                         "1.0b1.dev456",
                         "1.0b2",
                         "1.0b2.post345.dev456",
                         "1.0b2.post345",
                         "1.0rc1.dev456",
                         "1.0rc1",
                         "1.0",
                         "1.0+abc.5",
                         "1.0+abc.7",
                         "1.0+5",
                         "1.0.post456.dev34",
                         "1.0.post456",
                         "1.0.15",
                         "1.1.dev1"};
  for (std::size_t i = 0; i + 1 < std::size(order); ++i)
    EXPECT_LT(pep440::compare(V(order[i]), V(order[i + 1])), 0)
        << order[i] << " < " << order[i + 1];
}

TEST(Pep440, NormalizationExamples) {
  const std::pair<const char*, const char*> cases[] = {{"1.0a", "1.0a0"},
                                                       {"1.0alpha1", "1.0a1"},
                                                       {"1.1RC1", "1.1rc1"},
                                                       {"1.0c1", "1.0rc1"},
                                                       {"1.0-a1", "1.0a1"},
                                                       {"1.0pre1", "1.0rc1"},
                                                       {"1.0preview1", "1.0rc1"},
                                                       {"1.0beta2", "1.0b2"},
                                                       {"1.0-1", "1.0.post1"},
                                                       {"1.0-r4", "1.0.post4"},
                                                       {"1.0rev4", "1.0.post4"},
                                                       {"1.0.post", "1.0.post0"},
                                                       {"1.0.dev", "1.0.dev0"},
                                                       {"1.0-dev1", "1.0.dev1"},
                                                       {"v1.0", "1.0"},
                                                       {"  1.0\n", "1.0"},
                                                       {"1.01", "1.1"},
                                                       {"1!2.0", "1!2.0"},
                                                       {"1.0+ubuntu-1", "1.0+ubuntu.1"},
                                                       {"1.0+UBUNTU_1", "1.0+ubuntu.1"},
                                                       {"2.11.0+cu130", "2.11.0+cu130"},
                                                       {"0.0.33.post2", "0.0.33.post2"}};
  for (const auto& [in_text, want] : cases) EXPECT_EQ(V(in_text).str(), want) << in_text;
  for (const char* bad : {"", "french toast", "1.0+", "1..0", "1.0.", "1.0+a b"})
    EXPECT_FALSE(pep440::parse_version(bad).has_value()) << bad;
}

TEST(Pep440, CompatibleRelease) {
  EXPECT_TRUE(in("2.2", "~=2.2"));
  EXPECT_TRUE(in("2.9", "~=2.2"));
  EXPECT_FALSE(in("3.0", "~=2.2"));
  EXPECT_TRUE(in("1.4.9", "~=1.4.5"));
  EXPECT_FALSE(in("1.5.0", "~=1.4.5"));
  EXPECT_FALSE(in("1.4.4", "~=1.4.5"));
  EXPECT_TRUE(in("2.3", "~=2.2.post3"));
  EXPECT_FALSE(in("2.2.post2", "~=2.2.post3"));
  EXPECT_TRUE(in("1.4.5a4", "~=1.4.5a4"));
  EXPECT_TRUE(in("1.4.6", "~=1.4.5a4"));
  EXPECT_FALSE(in("1.5", "~=1.4.5a4"));
  EXPECT_FALSE(pep440::parse_specifiers("~=1").has_value());
}

TEST(Pep440, VersionMatching) {
  EXPECT_FALSE(in("1.1.post1", "==1.1"));
  EXPECT_TRUE(in("1.1.post1", "==1.1.post1"));
  EXPECT_TRUE(in("1.1.post1", "==1.1.*"));
  EXPECT_TRUE(in("3.1.0", "==3.1"));
  EXPECT_FALSE(in("3.1.1", "==3.1"));
  EXPECT_TRUE(in("1.0+downstream1", "==1.0"));  // local label ignored when the spec has none
  EXPECT_FALSE(in("1.0+downstream1", "==1.0+other"));
  EXPECT_TRUE(in("2.9.1+cu128", "==2.9.1+cu128"));
  EXPECT_TRUE(in("1.1.0+local", "==1.1.*"));
  EXPECT_FALSE(in("1.1a1", "==1.1.*"));  // pre-releases excluded by default
  EXPECT_TRUE(in("1.1a1", "==1.1.*", true));
  EXPECT_FALSE(in("1.1.post1", "!=1.1.*"));
  EXPECT_TRUE(in("1.2", "!=1.1.*"));
  EXPECT_FALSE(pep440::parse_specifiers(">=1.0.*").has_value());  // wildcards only with == and !=
}

TEST(Pep440, ExclusiveOrderedComparison) {
  EXPECT_TRUE(in("1.7.1", ">1.7"));
  EXPECT_FALSE(in("1.7.0.post1", ">1.7"));  // no post-releases of V unless V is one
  EXPECT_TRUE(in("1.7.0.post3", ">1.7.post2"));
  EXPECT_FALSE(in("1.7+local", ">1.7"));
  EXPECT_TRUE(in("3.0", "<3.1"));
  EXPECT_FALSE(in("3.1.dev0", "<3.1", true));  // no pre-releases of V unless V is one
  EXPECT_TRUE(in("3.1a1", "<3.1b1", true));
}

TEST(Pep440, InclusiveAndSets) {
  EXPECT_TRUE(in("1.5", ">= 1.0, != 1.3.4.*, < 2.0"));
  EXPECT_FALSE(in("1.3.4.1", ">= 1.0, != 1.3.4.*, < 2.0"));
  EXPECT_FALSE(in("2.0", ">= 1.0, != 1.3.4.*, < 2.0"));
  EXPECT_TRUE(in("3.11.7", ">=3.10,<3.14"));
  EXPECT_FALSE(in("3.8.18", ">=3.10,<3.14"));
  EXPECT_TRUE(in("2.0rc1", ">=2.0rc1"));  // a spec naming a pre-release admits them
  EXPECT_EQ(pep440::parse_specifiers(">=3.10, <3.14")->str(), ">=3.10,<3.14");
}

TEST(Pep440, MoreExamplesFromThePep) {
  EXPECT_FALSE(in("1.1.0", "!=1.1"));  // zero padding in exclusion
  EXPECT_TRUE(in("1.4.5.0", "~=1.4.5.0"));
  EXPECT_FALSE(in("1.4.6", "~=1.4.5.0"));
  EXPECT_TRUE(in("1!1.3", "~=1!1.2"));
  EXPECT_FALSE(in("1.3", "~=1!1.2"));  // epochs never mix
  EXPECT_LT(pep440::compare(V("1.0.post1.dev1"), V("1.0.post1")), 0);
  EXPECT_LT(pep440::compare(V("2013.10"), V("1!1.0")), 0);
  EXPECT_FALSE(in("1.0rc1", ">=1.0"));  // pre-releases excluded by default
  EXPECT_TRUE(in("1.0rc1", ">=0.9", true));
}
