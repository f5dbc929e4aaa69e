@supply
Feature: Software supply and removal
  A person supplies software releases to the computers it owns. The node
  builds each release once, in the shared software directory, reports
  building then available (or error, with the reason), and removes what is
  no longer supplied once no instance uses it.

  Background:
    Given a person "alice"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 2 partitions

  @determinism
  Scenario: A supplied release is built and reported available
    When "alice" supplies "hello" on "COMP-1"
    Then it succeeds
    When the nodes converge within 10 minutes
    Then the software "hello" on "COMP-1" is reported available
    And node "COMP-1" has "hello" installed

  Scenario: A release whose profile uses an unknown recipe is reported in error, and nothing else suffers
    Given a software release "broken" whose profile uses an unknown recipe
    When "alice" supplies "broken" on "COMP-1"
    And "alice" supplies "hello" on "COMP-1"
    And the nodes converge within 10 minutes
    Then the software "broken" on "COMP-1" is reported in error mentioning "recipe"
    And node "COMP-1" does not have "broken" installed
    And the software "hello" on "COMP-1" is reported available

  Scenario: Instances of a release that does not parse wait, and are not lost
    Given a software release "garbled" whose profile does not parse
    And "alice" supplies "garbled" on "COMP-1"
    When "alice" requests "app" of "garbled"
    And the nodes converge within 10 minutes
    Then the software "garbled" on "COMP-1" is reported in error mentioning "garbled"
    And "app" is allocated on "COMP-1"
    And node "COMP-1" does not run "app"

  Scenario: Removing a supply removes the release from the node
    Given "alice" supplies "hello" on "COMP-1"
    And the nodes converge within 10 minutes
    When "alice" removes "hello" from "COMP-1"
    And the nodes converge within 5 minutes
    Then the software "hello" on "COMP-1" is reported destroyed
    And node "COMP-1" does not have "hello" installed

  Scenario: A release still used by an instance is kept until the instance is gone
    Given "alice" supplies "hello" on "COMP-1"
    And "alice" requests "web" of "hello"
    And the nodes converge within 10 minutes
    When "alice" removes "hello" from "COMP-1"
    And the nodes converge within 5 minutes
    Then node "COMP-1" has "hello" installed
    And node "COMP-1" runs "web"
    When "alice" destroys "web"
    And the nodes converge within 10 minutes
    Then node "COMP-1" does not have "hello" installed
    And the software "hello" on "COMP-1" is reported destroyed

  Scenario: Requests wait while the release is not supplied anywhere
    When "alice" requests "web" of "hello"
    Then "web" is pending with a reason mentioning "software not supplied"
    When "alice" supplies "hello" on "COMP-1"
    Then "web" is allocated on "COMP-1"

  Scenario: Only the owner of a computer supplies it
    Given a person "bob"
    When "bob" supplies "hello" on "COMP-1"
    Then it fails as refused
    And no software is supplied on "COMP-1"

  Scenario: A supply of a URL that is not a software release is refused with the reason
    When "alice" supplies the URL "ftp://example.org/software.cfg" on "COMP-1"
    Then it fails as invalid input mentioning "scheme"
    And no software is supplied on "COMP-1"

  Scenario: Supplying a computer that does not exist
    When "alice" supplies "hello" on "COMP-404"
    Then it fails as not found

  @sim-only @modelled-time
  Scenario: A build that takes hours never delays the instances of other releases
    Given a software release "huge" that takes 3 hours to build
    And "alice" supplies "hello" on "COMP-1"
    And "alice" supplies "huge" on "COMP-1"
    And "alice" requests "web" of "hello"
    And "alice" requests "big" of "huge"
    When 10 minutes pass
    Then "web" is reported started
    And the software "huge" on "COMP-1" is reported building
    And node "COMP-1" does not run "big"
    When 3 hours pass
    Then the software "huge" on "COMP-1" is reported available
    And "big" is reported started
