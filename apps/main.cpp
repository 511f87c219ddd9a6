#include <iostream>
int main() { std::cout << "sadari\n"; return 0; }
