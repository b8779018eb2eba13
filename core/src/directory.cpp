#include <haveri/core/directory.hpp>
