import URing
