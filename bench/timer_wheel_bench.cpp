// TODO(issue 7): benchmark in progress.
int main() {
  return 0;
}
