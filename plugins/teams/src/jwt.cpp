#include "jwt.hpp"
