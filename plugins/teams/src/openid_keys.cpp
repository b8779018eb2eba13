#include "openid_keys.hpp"
