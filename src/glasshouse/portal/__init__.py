"""Community camera portal: residents share footage with agencies by consent, in public view."""
