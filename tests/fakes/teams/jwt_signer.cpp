#include "teams/jwt_signer.hpp"
