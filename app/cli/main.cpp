// disco: command-line front end. (Placeholder: sub-commands arrive with their issues.)
#include <cstdio>

int main(int argc, char** argv) {
  std::fprintf(stderr, "usage: disco inspect FILE [--tensors]\n");
  return 2;
}
