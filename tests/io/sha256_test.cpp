#include "io/sha256.h"

#include <gtest/gtest.h>

#include "support/fixtures.h"

using disco::io::sha256_hex;

TEST(Sha256, MatchesFipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, MatchesPublishedDigestOfBpeVocabulary) {
  EXPECT_EQ(disco::io::sha256_file(disco::test::shared_dir() + "/data/bpe_simple_vocab_16e6.txt.gz"),
            "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a");
}
