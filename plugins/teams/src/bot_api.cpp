#include "bot_api.hpp"
